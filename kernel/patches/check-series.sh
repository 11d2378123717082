#!/bin/bash
# Check that every patch of kernel/patches stands on its own: apply them one
# by one to Debian 12's linux-source-6.12, run scripts/checkpatch.pl --strict
# on each (any error, warning or check fails it) and, after each, compile the
# objects it touches, for x86_64 and for arm64 (cross, aarch64-linux-gnu-):
#   drivers/.../foo.c               -> drivers/.../foo.o (both)
#   lib/vdso/*.c                    -> each arch's vDSO image, which builds it in:
#                                      arch/x86/entry/vdso/, arch/arm64/kernel/vdso/
#   include/uapi/...                -> make headers (the uapi export)
#   tools/testing/selftests/D/t.c   -> t, with D's Makefile (host)
# Prints one line per patch and a summary; the full output is in --log.
#
#   check-series.sh                             own trees under the kernel cache
#   check-series.sh --arch A --src DIR --build DIR
#           an unpatched tree and a build directory configured for arch A
#           (what build-kernel.sh passes); the other arch's build directory
#           is configured beside it (DIR/../check-<arch>).
set -euo pipefail

PATCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KERNEL_DIR=$(dirname "$PATCH_DIR")
ARCHES=(x86_64 arm64)
PRIMARY=x86_64 SRC= BUILD= LOG=

log() { printf 'check-series: %s\n' "$*"; }
die() { log "error: $*" >&2; exit 1; }

while (($#)); do
	case $1 in
	--arch) PRIMARY=$2; shift 2 ;;
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
	"$KERNEL_DIR/qemu/configure-kernel.sh" "$PRIMARY" "$SRC" "$BUILD" >"$WORK/config.log" 2>&1 ||
		die "configuring failed, see $WORK/config.log"
fi
[[ -d $SRC && -f $BUILD/.config ]] || die "--src must be a kernel tree and --build a configured O= directory"
"$PATCH_DIR/base-version.sh" --check-tree "$SRC"
"$PATCH_DIR/base-version.sh" --check-cover "$PATCH_DIR/0000-cover-letter.patch"
LOG=${LOG:-$BUILD/../series.log}
: >"$LOG"

# One build directory per arch: the given one, and the others beside it.
declare -A ODIR
for a in "${ARCHES[@]}"; do
	if [[ $a == "$PRIMARY" ]]; then
		ODIR[$a]=$BUILD
		continue
	fi
	ODIR[$a]=$(dirname "$BUILD")/check-$a
	rm -rf "${ODIR[$a]}"
	"$KERNEL_DIR/qemu/configure-kernel.sh" "$a" "$SRC" "${ODIR[$a]}" >>"$LOG" 2>&1 ||
		die "configuring the $a check tree failed, see $LOG"
done
[[ -n ${ODIR[$PRIMARY]:-} ]] || die "--arch: one of ${ARCHES[*]}, not '$PRIMARY'"

mapfile -t PATCHES < <(find "$PATCH_DIR" -maxdepth 1 -name '[0-9][0-9][0-9][0-9]-*.patch' ! -name '0000-*' | sort)
((${#PATCHES[@]})) || die "no patches in $PATCH_DIR"

# kmake ARCH TARGET...: builds in that arch's directory.
kmake() {
	local a=$1 cross=
	shift
	[[ $a == arm64 ]] && cross=aarch64-linux-gnu-
	nice -n 10 make ARCH="$a" CROSS_COMPILE="$cross" -C "$SRC" O="${ODIR[$a]}" -j"$(nproc)" \
		"$@" >>"$LOG" 2>&1
}
# The vDSO image of each arch: what builds lib/vdso/ in.
declare -A VDSO_DIR=([x86_64]=arch/x86/entry/vdso/ [arm64]=arch/arm64/kernel/vdso/)

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

	targets=() headers=0 tests=() vdso=0
	while read -r file; do
		case $file in
		include/uapi/*) headers=1 ;;
		lib/vdso/*.c) vdso=1 ;;
		tools/testing/selftests/*.c) tests+=("$file") ;;
		tools/*) ;;
		*.c) targets+=("${file%.c}.o") ;;
		esac
	done < <(sed -nE 's@^\+\+\+ b/([^[:space:]]+).*@\1@p' "$p" | sort -u)
	mapfile -t targets < <(printf '%s\n' "${targets[@]}" | grep . | sort -u)

	built=()
	build_ok=1
	if ((headers)); then
		kmake "$PRIMARY" headers && built+=(headers) || { build_ok=0; built+=("headers FAILED"); }
	fi
	for a in "${ARCHES[@]}"; do
		arch_targets=("${targets[@]}")
		((vdso)) && arch_targets+=("${VDSO_DIR[$a]}")
		((${#arch_targets[@]})) || continue
		if kmake "$a" "${arch_targets[@]}"; then
			built+=("$a:" "${arch_targets[@]}")
		else
			build_ok=0
			built+=("$a: ${arch_targets[*]} FAILED")
		fi
	done
	for t in "${tests[@]}"; do
		dir=$(dirname "$t") prog=$(basename "$t" .c)
		if [[ ! -f $BUILD/usr/include/linux/random.h ]]; then
			kmake "$PRIMARY" headers || true
		fi
		mkdir -p "$BUILD/selftests"
		# With the primary arch's compiler: the exported headers are that arch's.
		if make -C "$SRC/$dir" OUTPUT="$BUILD/selftests" top_srcdir="$SRC" \
			CC="$([[ $PRIMARY == arm64 ]] && echo aarch64-linux-gnu-)gcc" \
			KHDR_INCLUDES="-isystem $BUILD/usr/include" \
			"$BUILD/selftests/$prog" >>"$LOG" 2>&1; then
			built+=("$PRIMARY: $dir/$prog")
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
