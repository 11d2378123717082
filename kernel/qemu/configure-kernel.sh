#!/bin/bash
# Configures a kernel build directory for the QEMU guest: `make tinyconfig`,
# then kernel/qemu/grndpool.config and grndpool-ARCH.config merged on top,
# then checks that every option of the fragments survived olddefconfig and
# that vDSO getrandom() is built. Used by build-kernel.sh and check-series.sh.
#
#   configure-kernel.sh ARCH SRC_DIR BUILD_DIR      ARCH: x86_64 or arm64
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ARCH=$1 SRC=$2 BUILD=$3
die() { printf 'configure-kernel: error: %s\n' "$*" >&2; exit 1; }

case $ARCH in
x86_64) KMAKE=(make ARCH=x86_64) ;;
arm64) KMAKE=(make ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu-) ;;
*) die "ARCH: x86_64 or arm64, not '$ARCH'" ;;
esac
FRAGMENTS=("$SCRIPT_DIR/grndpool.config" "$SCRIPT_DIR/grndpool-$ARCH.config")
mkdir -p "$BUILD"
"${KMAKE[@]}" -C "$SRC" O="$BUILD" tinyconfig
# merge_config.sh runs make olddefconfig itself (-m: merge only, then we do).
ARCH=${KMAKE[1]#ARCH=} "$SRC/scripts/kconfig/merge_config.sh" -m -O "$BUILD" "$BUILD/.config" \
	"${FRAGMENTS[@]}"
"${KMAKE[@]}" -C "$SRC" O="$BUILD" olddefconfig
# merge_config.sh only warns about options it could not set.
while IFS= read -r line; do
	want=$line
	[[ $line == *=n ]] && want="# ${line%=n} is not set"
	grep -qxF -- "$want" "$BUILD/.config" ||
		die "config fragment option '$line' did not survive olddefconfig (missing dependency?)"
done < <(cat "${FRAGMENTS[@]}" | grep -E '^CONFIG_[A-Z0-9_]+=')
grep -qx 'CONFIG_VDSO_GETRANDOM=y' "$BUILD/.config" ||
	die "CONFIG_VDSO_GETRANDOM is not set: the guest would have no vDSO getrandom()"
