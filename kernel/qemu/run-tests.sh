#!/bin/bash
# Build Debian 12's linux-source-6.1 with the GRND_TIMESTAMP series of
# kernel/patches, boot it under QEMU and run the grndpool payloads in it.
# Run as root on Debian 12; see --help and kernel/README.md.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KERNEL_DIR=$(dirname "$SCRIPT_DIR")
PATCH_DIR=$KERNEL_DIR/patches
VM_DIR=$KERNEL_DIR/vm
CONFIG_FRAGMENT=$SCRIPT_DIR/grndpool.config
SOURCE_TARBALL=/usr/src/linux-source-6.1.tar.xz
# Bump when the way the kernel is built changes, to invalidate the cache.
RECIPE_VERSION=1
BENCH_COUNT=1048576

usage() {
	cat <<EOF
usage: $(basename "$0") [--payload 'PATH[:ARGS]']... [--timeout SECONDS] [--kvm]

Builds (or reuses from the cache) Linux 6.1 with kernel/patches applied,
boots it under qemu-system-x86_64 and runs, from an initramfs, the
GRND_TIMESTAMP contract test (kernel/vm/grnd_timestamp_contract.c), the
benchmark of the series (tools/testing/crypto/getrandom/test-getrandom)
and every extra payload, in that order. Exits non-zero if any payload
fails, the VM panics or times out.

  --payload 'PATH[:ARGS]'  extra statically linked program to run in the VM.
                           Everything after the FIRST ':' is its argument
                           list, split on spaces (arguments may contain ':'
                           but not spaces), e.g.
                             --payload 'build/tests/grndpool_vm_tests:--gtest_brief=1'
                             --payload '/abs/bin:--gtest_filter=A.*:B.* -v'
                           Relative paths are taken from the current directory.
                           May be repeated.
  --timeout SECONDS        time limit of each payload in the VM (default 600);
                           the whole VM gets 120 s + SECONDS per payload.
  --bench-count N          u32 drawn per row by test-getrandom (default $BENCH_COUNT)
  --kvm                    try -accel kvm (falls back to TCG if KVM can't
                           boot the VM); the default is TCG emulation.
  -h, --help               this text.

Environment: GRNDPOOL_KERNEL_CACHE (default \${XDG_CACHE_HOME:-\$HOME/.cache}/grndpool/kernel)
holds one directory per (patches, config fragment, linux-source version):
source tree, bzImage, build log and the serial logs of the runs.
EOF
}

log() { printf 'grndpool-kernel: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

T_START=$(now)
PAYLOADS=()
PAYLOAD_TIMEOUT=600
USE_KVM=0

while (($#)); do
	case $1 in
	--payload)
		(($# >= 2)) || die "--payload needs an argument"
		PAYLOADS+=("$2"); shift 2 ;;
	--payload=*) PAYLOADS+=("${1#--payload=}"); shift ;;
	--timeout)
		(($# >= 2)) || die "--timeout needs an argument"
		PAYLOAD_TIMEOUT=$2; shift 2 ;;
	--timeout=*) PAYLOAD_TIMEOUT=${1#--timeout=}; shift ;;
	--bench-count)
		(($# >= 2)) || die "--bench-count needs an argument"
		BENCH_COUNT=$2; shift 2 ;;
	--kvm) USE_KVM=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; die "unknown argument: $1" ;;
	esac
done
[[ $PAYLOAD_TIMEOUT =~ ^[1-9][0-9]*$ ]] || die "--timeout wants a positive number of seconds, got '$PAYLOAD_TIMEOUT'"
[[ $BENCH_COUNT =~ ^[1-9][0-9]*$ ]] || die "--bench-count wants a positive number, got '$BENCH_COUNT'"

# --- host packages --------------------------------------------------------
NEEDED=(linux-source-6.1 qemu-system-x86 build-essential flex bison bc cpio
	libelf-dev libssl-dev)
MISSING=()
for pkg in "${NEEDED[@]}"; do
	dpkg -s "$pkg" >/dev/null 2>&1 || MISSING+=("$pkg")
done
if ((${#MISSING[@]})); then
	((EUID == 0)) || die "missing packages (${MISSING[*]}) and not root to install them"
	log "installing ${MISSING[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${MISSING[@]}"
fi
[[ -r $SOURCE_TARBALL ]] || die "$SOURCE_TARBALL not found (package linux-source-6.1)"

# --- payloads given on the command line -----------------------------------
EXTRA_PATHS=()
EXTRA_ARGS=()
for spec in "${PAYLOADS[@]}"; do
	path=${spec%%:*}
	args=
	[[ $spec == *:* ]] && args=${spec#*:}
	[[ -f $path ]] || die "payload $path: no such file"
	path=$(realpath "$path")
	[[ -x $path ]] || die "payload $path: not executable"
	if readelf -lW "$path" 2>/dev/null | grep -q 'Requesting program interpreter'; then
		die "payload $path is dynamically linked: the VM has no libraries, link it with -static"
	fi
	EXTRA_PATHS+=("$path")
	EXTRA_ARGS+=("$args")
done

# --- cache ----------------------------------------------------------------
SOURCE_VERSION=$(dpkg-query -W -f '${Version}' linux-source-6.1)
mapfile -t PATCHES < <(find "$PATCH_DIR" -maxdepth 1 -name '[0-9][0-9][0-9][0-9]-*.patch' ! -name '0000-*' | sort)
((${#PATCHES[@]})) || die "no patches in $PATCH_DIR"
KEY=$({
	echo "recipe $RECIPE_VERSION"
	echo "linux-source-6.1 $SOURCE_VERSION"
	for p in "${PATCHES[@]}"; do echo "patch $(basename "$p")"; cat "$p"; done
	echo "config"; cat "$CONFIG_FRAGMENT"
} | sha256sum | cut -c1-16)
CACHE_ROOT=${GRNDPOOL_KERNEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/grndpool/kernel}
CACHE=$CACHE_ROOT/$KEY
mkdir -p "$CACHE/logs"
BZIMAGE=$CACHE/bzImage

WORK=$(mktemp -d "${TMPDIR:-/tmp}/grndpool-kernel.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# One build per cache entry at a time.
exec 9>"$CACHE/.lock"
flock 9

if [[ -s $BZIMAGE && -s $CACHE/kernelrelease ]]; then
	CACHED=cached
	log "using cached kernel $CACHE"
else
	CACHED=built
	log "building kernel in $CACHE (linux-source-6.1 $SOURCE_VERSION, ${#PATCHES[@]} patches)"
	T_BUILD=$(now)
	rm -rf "$CACHE/src" "$CACHE/build"
	mkdir -p "$CACHE/src" "$CACHE/build"
	tar -xf "$SOURCE_TARBALL" -C "$CACHE/src" --strip-components=1
	for p in "${PATCHES[@]}"; do
		log "applying $(basename "$p")"
		patch -d "$CACHE/src" -p1 --batch --forward --no-backup-if-mismatch -s -i "$p" ||
			die "$(basename "$p") does not apply to linux-source-6.1 $SOURCE_VERSION"
	done
	BUILD_LOG=$CACHE/build.log
	{
		make -C "$CACHE/src" O="$CACHE/build" tinyconfig
		"$CACHE/src/scripts/kconfig/merge_config.sh" -m -O "$CACHE/build" \
			"$CACHE/build/.config" "$CONFIG_FRAGMENT"
		make -C "$CACHE/src" O="$CACHE/build" olddefconfig
	} >"$BUILD_LOG" 2>&1 || die "configuring the kernel failed, see $BUILD_LOG"
	# merge_config.sh only warns about options it could not set.
	while IFS= read -r line; do
		want=$line
		[[ $line == *=n ]] && want="# ${line%=n} is not set"
		grep -qxF -- "$want" "$CACHE/build/.config" ||
			die "config fragment option '$line' did not survive olddefconfig (missing dependency?)"
	done < <(grep -E '^CONFIG_[A-Z0-9_]+=' "$CONFIG_FRAGMENT")
	grep -qx 'CONFIG_VDSO_GETRANDOM=y' "$CACHE/build/.config" ||
		die "CONFIG_VDSO_GETRANDOM is not set: the series did not wire up the vDSO"
	log "make -j$(nproc) bzImage (log: $BUILD_LOG)"
	make -C "$CACHE/src" O="$CACHE/build" -j"$(nproc)" bzImage >>"$BUILD_LOG" 2>&1 ||
		{ tail -n 30 "$BUILD_LOG" >&2; die "kernel build failed, see $BUILD_LOG"; }
	make -s -C "$CACHE/src" O="$CACHE/build" kernelrelease >"$CACHE/kernelrelease.tmp"
	cp "$CACHE/build/arch/x86/boot/bzImage" "$BZIMAGE.tmp"
	mv "$BZIMAGE.tmp" "$BZIMAGE"
	mv "$CACHE/kernelrelease.tmp" "$CACHE/kernelrelease"
	log "kernel built in $(elapsed "$T_BUILD") s"
fi
KERNEL_RELEASE=$(cat "$CACHE/kernelrelease")
flock -u 9

# --- initramfs -------------------------------------------------------------
ROOT=$WORK/root
mkdir -p "$ROOT"/{dev,proc,sys,tmp,payloads}
CFLAGS=(-static -O2 -Wall -Wextra)
gcc "${CFLAGS[@]}" -o "$ROOT/init" "$VM_DIR/init.c"
gcc "${CFLAGS[@]}" -o "$ROOT/payloads/grnd_timestamp_contract" "$VM_DIR/grnd_timestamp_contract.c"
gcc "${CFLAGS[@]}" -o "$ROOT/payloads/test-getrandom" \
	"$CACHE/src/tools/testing/crypto/getrandom/test-getrandom.c"
{
	echo "/payloads/grnd_timestamp_contract"
	echo "/payloads/test-getrandom $BENCH_COUNT"
} >"$ROOT/payloads.list"
for i in "${!EXTRA_PATHS[@]}"; do
	name=$(basename "${EXTRA_PATHS[$i]}")
	[[ -e $ROOT/payloads/$name ]] && name=$i-$name
	cp "${EXTRA_PATHS[$i]}" "$ROOT/payloads/$name"
	echo "/payloads/$name ${EXTRA_ARGS[$i]}" >>"$ROOT/payloads.list"
done
NPAYLOADS=$(grep -c . "$ROOT/payloads.list")
(cd "$ROOT" && find . -print0 | cpio --null -o -H newc --quiet | gzip -1) >"$WORK/initramfs.gz"

# --- boot ------------------------------------------------------------------
VM_TIMEOUT=$((120 + PAYLOAD_TIMEOUT * NPAYLOADS))
SERIAL_LOG=$CACHE/logs/run-$(date +%Y%m%d-%H%M%S)-$$.log

boot() {
	local accel=$1 cpu=max rc=0
	log "booting $KERNEL_RELEASE with $accel, $NPAYLOADS payloads, time limit ${VM_TIMEOUT} s; serial log $SERIAL_LOG"
	timeout --foreground -k 10 "$VM_TIMEOUT" qemu-system-x86_64 \
		-accel "$accel" -cpu "$cpu" -m 512M -smp 2 \
		-nographic -no-reboot -nic none \
		-kernel "$BZIMAGE" -initrd "$WORK/initramfs.gz" \
		-append "console=ttyS0 panic=-1 quiet GRNDPOOL_PAYLOAD_TIMEOUT=$PAYLOAD_TIMEOUT" \
		</dev/null 2>&1 | tee "$SERIAL_LOG" || rc=$?
	return "$rc"
}

T_BOOT=$(now)
QEMU_RC=0
ACCEL=tcg
if ((USE_KVM)); then
	ACCEL=kvm
	boot kvm || QEMU_RC=$?
	if ! grep -q 'GRNDPOOL-VM: init' "$SERIAL_LOG"; then
		log "KVM could not boot the VM (rc $QEMU_RC), retrying with TCG"
		ACCEL=tcg QEMU_RC=0
		T_BOOT=$(now)
		boot tcg || QEMU_RC=$?
	fi
else
	boot tcg || QEMU_RC=$?
fi
BOOT_TIME=$(elapsed "$T_BOOT")

# --- verdict ---------------------------------------------------------------
CLEAN_LOG=$WORK/serial.log
tr -d '\r' <"$SERIAL_LOG" >"$CLEAN_LOG"
PROBLEMS=()
PASS=$(grep -cE '^GRNDPOOL-VM: payload [^ ]+ rc=0( |$)' "$CLEAN_LOG" || true)
while read -r name rc; do
	PROBLEMS+=("payload $name rc=$rc")
done < <(sed -nE 's/^GRNDPOOL-VM: payload ([^ ]+) rc=([0-9]+).*/\1 \2/p' "$CLEAN_LOG" | awk '$2 != 0')
REPORTED=$(grep -cE '^GRNDPOOL-VM: payload [^ ]+ rc=' "$CLEAN_LOG" || true)
((REPORTED == NPAYLOADS)) || PROBLEMS+=("$REPORTED of $NPAYLOADS payloads reported")
grep -qE '^GRNDPOOL-VM: done pass=[0-9]+ fail=0$' "$CLEAN_LOG" ||
	PROBLEMS+=("no clean 'GRNDPOOL-VM: done' line")
grep -q 'Kernel panic' "$CLEAN_LOG" && PROBLEMS+=("kernel panic")
((QEMU_RC == 124 || QEMU_RC == 137)) && PROBLEMS+=("VM timed out after $VM_TIMEOUT s")
((QEMU_RC != 0 && QEMU_RC != 124 && QEMU_RC != 137)) && PROBLEMS+=("qemu exited with $QEMU_RC")

SUMMARY="$PASS/$NPAYLOADS payloads, kernel $KERNEL_RELEASE ($CACHED, $ACCEL), boot+tests $BOOT_TIME s, total $(elapsed "$T_START") s"
if ((${#PROBLEMS[@]})); then
	printf 'grndpool-kernel: FAIL %s: %s; log %s\n' "$SUMMARY" "$(IFS=';'; echo "${PROBLEMS[*]}")" "$SERIAL_LOG"
	exit 1
fi
printf 'grndpool-kernel: PASS %s\n' "$SUMMARY"
