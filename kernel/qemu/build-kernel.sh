#!/bin/bash
# SPDX-License-Identifier: MIT
# Build (or reuse from the cache) Debian 12's linux-source-6.12 with the
# GRND_TIMESTAMP series of kernel/patches for the QEMU guest, and print on
# stdout one line: the cache directory (the boot image, kernelrelease, src/,
# build/, logs/), "built" or "cached", and the boot image's path.
# A cold build first runs kernel/patches/check-series.sh on the same tree:
# each patch applied alone, checkpatch --strict, its objects compiled (for
# x86_64 and arm64 both, whichever is built).
# Progress goes to stderr. Used by run-tests.sh and vm-clone.py.
#
#   build-kernel.sh [--arch x86_64|arm64]     default x86_64
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KERNEL_DIR=$(dirname "$SCRIPT_DIR")
PATCH_DIR=$KERNEL_DIR/patches
SOURCE_PACKAGE=linux-source-6.12
SOURCE_TARBALL=/usr/src/$SOURCE_PACKAGE.tar.xz
# Bump when the way the kernel is built changes, to invalidate the cache.
RECIPE_VERSION=3

log() { printf 'grndpool-kernel: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

ARCH=x86_64
while (($#)); do
	case $1 in
	--arch) ARCH=${2:-}; shift 2 ;;
	--arch=*) ARCH=${1#--arch=}; shift ;;
	*) die "unknown argument: $1" ;;
	esac
done
# make's ARCH and CROSS_COMPILE, the boot image, and QEMU's package.
case $ARCH in
x86_64) KARCH=x86_64 CROSS= IMAGE=arch/x86/boot/bzImage QEMU_PACKAGE=qemu-system-x86 ;;
arm64) KARCH=arm64 CROSS=aarch64-linux-gnu- IMAGE=arch/arm64/boot/Image QEMU_PACKAGE=qemu-system-arm ;;
*) die "--arch: x86_64 or arm64, not '$ARCH'" ;;
esac
CONFIG_FRAGMENTS=("$SCRIPT_DIR/grndpool.config" "$SCRIPT_DIR/grndpool-$ARCH.config")
KMAKE=(make ARCH="$KARCH" CROSS_COMPILE="$CROSS")

# --- host packages --------------------------------------------------------
# gcc-aarch64-linux-gnu for every arch: check-series.sh compiles the arm64 vDSO.
NEEDED=("$SOURCE_PACKAGE" "$QEMU_PACKAGE" build-essential gcc-aarch64-linux-gnu flex
	bison bc cpio libelf-dev libssl-dev python3 python3-ply)
MISSING=()
# With a foreign architecture added (arm64 for the cross build), a bare name
# that is installed for both is ambiguous to dpkg -s: ask for the native one.
for pkg in "${NEEDED[@]}"; do
	dpkg -s "$pkg:$(dpkg --print-architecture)" >/dev/null 2>&1 || dpkg -s "$pkg" >/dev/null 2>&1 ||
		MISSING+=("$pkg")
done
if ((${#MISSING[@]})); then
	((EUID == 0)) || die "missing packages (${MISSING[*]}) and not root to install them"
	log "installing ${MISSING[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		"${MISSING[@]}" >&2
fi
[[ -r $SOURCE_TARBALL ]] || die "$SOURCE_TARBALL not found (package $SOURCE_PACKAGE)"
# The cover letter names the base: it must be the source installed here.
"$PATCH_DIR/base-version.sh" --check-cover "$PATCH_DIR/0000-cover-letter.patch" >&2 ||
	die "the cover letter's base version is not the installed $SOURCE_PACKAGE"

# --- cache ----------------------------------------------------------------
SOURCE_VERSION=$(dpkg-query -W -f '${Version}' "$SOURCE_PACKAGE")
mapfile -t PATCHES < <(find "$PATCH_DIR" -maxdepth 1 -name '[0-9][0-9][0-9][0-9]-*.patch' ! -name '0000-*' | sort)
((${#PATCHES[@]})) || die "no patches in $PATCH_DIR"
KEY=$({
	echo "recipe $RECIPE_VERSION arch $ARCH"
	echo "$SOURCE_PACKAGE $SOURCE_VERSION"
	for p in "${PATCHES[@]}"; do echo "patch $(basename "$p")"; cat "$p"; done
	for f in "${CONFIG_FRAGMENTS[@]}"; do echo "config $(basename "$f")"; cat "$f"; done
	echo "check"; cat "$PATCH_DIR/check-series.sh" "$SCRIPT_DIR/configure-kernel.sh"
} | sha256sum | cut -c1-16)
CACHE_ROOT=${GRNDPOOL_KERNEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/grndpool/kernel}
CACHE=$CACHE_ROOT/$ARCH-$KEY
BOOT_IMAGE=$CACHE/$(basename "$IMAGE")
mkdir -p "$CACHE/logs"

# One build per cache entry at a time.
exec 9>"$CACHE/.lock"
flock 9

if [[ -s $BOOT_IMAGE && -s $CACHE/kernelrelease ]]; then
	log "using cached $ARCH kernel $CACHE"
	echo "$CACHE cached $BOOT_IMAGE"
	exit 0
fi

log "building the $ARCH kernel in $CACHE ($SOURCE_PACKAGE $SOURCE_VERSION, ${#PATCHES[@]} patches)"
T_BUILD=$(now)
rm -rf "$CACHE/src" "$CACHE/build"
mkdir -p "$CACHE/src" "$CACHE/build"
tar -xf "$SOURCE_TARBALL" -C "$CACHE/src" --strip-components=1
"$PATCH_DIR/base-version.sh" --check-tree "$CACHE/src" >&2 || die "the source tree is not the package's version"
BUILD_LOG=$CACHE/build.log
# Configures O=$2 for arch $1 (x86_64 or arm64): tinyconfig, then the common
# fragment and the arch's. The series does not touch Kconfig: configure once,
# before the patches. check-series.sh configures its other-arch tree the same way.
"$SCRIPT_DIR/configure-kernel.sh" "$ARCH" "$CACHE/src" "$CACHE/build" >"$BUILD_LOG" 2>&1 ||
	{ tail -n 5 "$BUILD_LOG" >&2; die "configuring the kernel failed, see $BUILD_LOG"; }

# Applies the patches one by one, checkpatch and a compile of each.
"$PATCH_DIR/check-series.sh" --arch "$ARCH" --src "$CACHE/src" --build "$CACHE/build" \
	--log "$CACHE/series.log" >&2 || die "the series check failed, see $CACHE/series.log"

log "nice make -j$(nproc) $(basename "$IMAGE") (log: $BUILD_LOG)"
nice -n 10 "${KMAKE[@]}" -C "$CACHE/src" O="$CACHE/build" -j"$(nproc)" "$(basename "$IMAGE")" \
	>>"$BUILD_LOG" 2>&1 || { tail -n 30 "$BUILD_LOG" >&2; die "kernel build failed, see $BUILD_LOG"; }
"${KMAKE[@]}" -s -C "$CACHE/src" O="$CACHE/build" kernelrelease >"$CACHE/kernelrelease.tmp"
cp "$CACHE/build/$IMAGE" "$BOOT_IMAGE.tmp"
mv "$BOOT_IMAGE.tmp" "$BOOT_IMAGE"
mv "$CACHE/kernelrelease.tmp" "$CACHE/kernelrelease"
log "$ARCH kernel built in $(elapsed "$T_BUILD") s"
echo "$CACHE built $BOOT_IMAGE"
