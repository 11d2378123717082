#!/bin/bash
# Check that every patch of kernel/patches stands on its own: apply them one
# by one to Debian 12's linux-source-6.12, run scripts/checkpatch.pl --strict
# on each (any error, warning or check fails it) and, after each, compile the
# objects it touches (x86_64):
#   drivers/.../foo.c               -> drivers/.../foo.o
#   lib/vdso/*.c                    -> arch/x86/entry/vdso/ (the vDSO image)
#   include/uapi/...                -> make headers (the uapi export)
#   tools/testing/selftests/D/t.c   -> t, with D's Makefile
# Prints one line per patch and a summary; the full output is in --log.
#
#   check-series.sh                           own tree under the kernel cache
#   check-series.sh --src DIR --build DIR     an unpatched, configured tree
#                                             (what build-kernel.sh passes)
set -euo pipefail

PATCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KERNEL_DIR=$(dirname "$PATCH_DIR")
SRC= BUILD= LOG=

log() { printf 'check-series: %s\n' "$*"; }
die() { log "error: $*" >&2; exit 1; }

while (($#)); do
	case $1 in
	--src) SRC=$(realpath "$2"); shift 2 ;;
	--build) BUILD=$(realpath "$2"); shift 2 ;;
	--log) LOG=$2; shift 2 ;;
	*) die "unknown argument: $1" ;;
	esac
done

if [[ -z $SRC ]]; then
	# Standalone: a tree of its own, configured like the guest kernel.
	CACHE_ROOT=${GRNDPOOL_KERNEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/grndpool/kernel}
	WORK=$CACHE_ROOT/series-check
	rm -rf "$WORK"
	mkdir -p "$WORK/src" "$WORK/build"
	SRC=$WORK/src BUILD=$WORK/build
	tar -xf /usr/src/linux-source-6.12.tar.xz -C "$SRC" --strip-components=1
	{
		make -C "$SRC" O="$BUILD" tinyconfig
		"$SRC/scripts/kconfig/merge_config.sh" -m -O "$BUILD" "$BUILD/.config" \
			"$KERNEL_DIR/qemu/grndpool.config"
		make -C "$SRC" O="$BUILD" olddefconfig
	} >"$WORK/config.log" 2>&1 || die "configuring failed, see $WORK/config.log"
fi
[[ -d $SRC && -f $BUILD/.config ]] || die "--src must be a kernel tree and --build a configured O= directory"
LOG=${LOG:-$BUILD/../series.log}
: >"$LOG"

mapfile -t PATCHES < <(find "$PATCH_DIR" -maxdepth 1 -name '[0-9][0-9][0-9][0-9]-*.patch' ! -name '0000-*' | sort)
((${#PATCHES[@]})) || die "no patches in $PATCH_DIR"

kmake() { nice -n 10 make -C "$SRC" O="$BUILD" -j"$(nproc)" "$@" >>"$LOG" 2>&1; }

FAILED=0
for p in "${PATCHES[@]}"; do
	name=$(basename "$p")
	echo "=== $name" >>"$LOG"
	patch -d "$SRC" -p1 --batch --forward --no-backup-if-mismatch -s -i "$p" >>"$LOG" 2>&1 ||
		die "$name does not apply, see $LOG"

	# checkpatch's own summary line: "total: E errors, W warnings, C checks, ..."
	# Debian's python3 has ply for checkpatch's SPDX check (a pyenv one may not).
	cp_out=$(cd "$SRC" && PATH=/usr/bin:$PATH perl scripts/checkpatch.pl --strict "$p" 2>&1 || true)
	echo "$cp_out" >>"$LOG"
	cp_total=$(grep -m1 '^total:' <<<"$cp_out" || echo "total: checkpatch did not run")
	cp_ok=0
	grep -q '^total: 0 errors, 0 warnings, 0 checks' <<<"$cp_total" && cp_ok=1
	grep -q '^Traceback' <<<"$cp_out" && { cp_ok=0; cp_total="$cp_total (a checkpatch helper crashed)"; }

	targets=() headers=0 tests=()
	while read -r file; do
		case $file in
		include/uapi/*) headers=1 ;;
		lib/vdso/*.c) targets+=(arch/x86/entry/vdso/) ;;
		tools/testing/selftests/*.c) tests+=("$file") ;;
		tools/*) ;;
		*.c) targets+=("${file%.c}.o") ;;
		esac
	done < <(sed -nE 's@^\+\+\+ b/([^[:space:]]+).*@\1@p' "$p" | sort -u)
	mapfile -t targets < <(printf '%s\n' "${targets[@]}" | grep . | sort -u)

	built=()
	build_ok=1
	if ((headers)); then
		kmake headers && built+=(headers) || { build_ok=0; built+=("headers FAILED"); }
	fi
	if ((${#targets[@]})); then
		kmake "${targets[@]}" && built+=("${targets[@]}") ||
			{ build_ok=0; built+=("${targets[*]} FAILED"); }
	fi
	for t in "${tests[@]}"; do
		dir=$(dirname "$t") prog=$(basename "$t" .c)
		if [[ ! -f $BUILD/usr/include/linux/random.h ]]; then
			kmake headers || true
		fi
		mkdir -p "$BUILD/selftests"
		if make -C "$SRC/$dir" OUTPUT="$BUILD/selftests" top_srcdir="$SRC" \
			KHDR_INCLUDES="-isystem $BUILD/usr/include" \
			"$BUILD/selftests/$prog" >>"$LOG" 2>&1; then
			built+=("$dir/$prog")
		else
			build_ok=0
			built+=("$dir/$prog FAILED")
		fi
	done
	((${#built[@]})) || built=("nothing to compile")

	verdict=ok
	((cp_ok && build_ok)) || { verdict=FAIL; FAILED=$((FAILED + 1)); }
	log "$verdict $name: checkpatch --strict ${cp_total#total: }; compiled: ${built[*]}" | tee -a "$LOG"
done

if ((FAILED)); then
	log "FAIL $FAILED of ${#PATCHES[@]} patches; log $LOG"
	exit 1
fi
log "PASS ${#PATCHES[@]} patches applied one by one, checkpatch --strict clean, each compiled"
