#!/bin/bash
# Build (or reuse from the cache) Debian 12's linux-source-6.12 with the
# GRND_TIMESTAMP series of kernel/patches for the QEMU guest, and print the
# cache directory (bzImage, kernelrelease, src/, build/, logs/) and "built"
# or "cached" on stdout.
# A cold build first runs kernel/patches/check-series.sh on the same tree:
# each patch applied alone, checkpatch --strict, its objects compiled.
# Progress goes to stderr. Used by run-tests.sh and vm-clone.py.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KERNEL_DIR=$(dirname "$SCRIPT_DIR")
PATCH_DIR=$KERNEL_DIR/patches
CONFIG_FRAGMENT=$SCRIPT_DIR/grndpool.config
SOURCE_PACKAGE=linux-source-6.12
SOURCE_TARBALL=/usr/src/$SOURCE_PACKAGE.tar.xz
# Bump when the way the kernel is built changes, to invalidate the cache.
RECIPE_VERSION=2

log() { printf 'grndpool-kernel: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# --- host packages --------------------------------------------------------
NEEDED=("$SOURCE_PACKAGE" qemu-system-x86 build-essential flex bison bc cpio
	libelf-dev libssl-dev python3 python3-ply)
MISSING=()
for pkg in "${NEEDED[@]}"; do
	dpkg -s "$pkg" >/dev/null 2>&1 || MISSING+=("$pkg")
done
if ((${#MISSING[@]})); then
	((EUID == 0)) || die "missing packages (${MISSING[*]}) and not root to install them"
	log "installing ${MISSING[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		"${MISSING[@]}" >&2
fi
[[ -r $SOURCE_TARBALL ]] || die "$SOURCE_TARBALL not found (package $SOURCE_PACKAGE)"

# --- cache ----------------------------------------------------------------
SOURCE_VERSION=$(dpkg-query -W -f '${Version}' "$SOURCE_PACKAGE")
mapfile -t PATCHES < <(find "$PATCH_DIR" -maxdepth 1 -name '[0-9][0-9][0-9][0-9]-*.patch' ! -name '0000-*' | sort)
((${#PATCHES[@]})) || die "no patches in $PATCH_DIR"
KEY=$({
	echo "recipe $RECIPE_VERSION"
	echo "$SOURCE_PACKAGE $SOURCE_VERSION"
	for p in "${PATCHES[@]}"; do echo "patch $(basename "$p")"; cat "$p"; done
	echo "config"; cat "$CONFIG_FRAGMENT"
	echo "check"; cat "$PATCH_DIR/check-series.sh"
} | sha256sum | cut -c1-16)
CACHE_ROOT=${GRNDPOOL_KERNEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/grndpool/kernel}
CACHE=$CACHE_ROOT/$KEY
mkdir -p "$CACHE/logs"

# One build per cache entry at a time.
exec 9>"$CACHE/.lock"
flock 9

if [[ -s $CACHE/bzImage && -s $CACHE/kernelrelease ]]; then
	log "using cached kernel $CACHE"
	echo "$CACHE cached"
	exit 0
fi

log "building kernel in $CACHE ($SOURCE_PACKAGE $SOURCE_VERSION, ${#PATCHES[@]} patches)"
T_BUILD=$(now)
rm -rf "$CACHE/src" "$CACHE/build"
mkdir -p "$CACHE/src" "$CACHE/build"
tar -xf "$SOURCE_TARBALL" -C "$CACHE/src" --strip-components=1
BUILD_LOG=$CACHE/build.log
# The series does not touch Kconfig: configure once, before the patches.
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
	die "CONFIG_VDSO_GETRANDOM is not set: the guest would have no vDSO getrandom()"

# Applies the patches one by one, checkpatch and a compile of each.
"$PATCH_DIR/check-series.sh" --src "$CACHE/src" --build "$CACHE/build" \
	--log "$CACHE/series.log" >&2 || die "the series check failed, see $CACHE/series.log"

log "nice make -j$(nproc) bzImage (log: $BUILD_LOG)"
nice -n 10 make -C "$CACHE/src" O="$CACHE/build" -j"$(nproc)" bzImage >>"$BUILD_LOG" 2>&1 ||
	{ tail -n 30 "$BUILD_LOG" >&2; die "kernel build failed, see $BUILD_LOG"; }
make -s -C "$CACHE/src" O="$CACHE/build" kernelrelease >"$CACHE/kernelrelease.tmp"
cp "$CACHE/build/arch/x86/boot/bzImage" "$CACHE/bzImage.tmp"
mv "$CACHE/bzImage.tmp" "$CACHE/bzImage"
mv "$CACHE/kernelrelease.tmp" "$CACHE/kernelrelease"
log "kernel built in $(elapsed "$T_BUILD") s"
echo "$CACHE built"
