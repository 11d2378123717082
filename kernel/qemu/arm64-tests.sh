#!/bin/bash
# SPDX-License-Identifier: MIT
# The arm64 kernel test (CTest label "arm64"): cross-builds the library and
# the guest's programs for arm64 (preset "arm64" -> build-arm64/, with
# cmake/aarch64-linux-gnu.cmake), then runs run-tests.sh --arch arm64 with the
# same payloads as x86_64's kernel_vm (build-arm64/vm-payloads.txt): the
# kselftest, the contract test, the library's static gtest suite, the memlock
# probe and the seed's table, in the patched 6.12 kernel cross-built for arm64,
# under qemu-system-aarch64 (TCG, -machine virt, -cpu max). Installs what it
# needs with apt-get (the cross toolchain, QEMU, and Debian's arm64 libraries
# through multiarch). Run as root on Debian 12:
#
#   kernel/qemu/arm64-tests.sh [run-tests.sh options, e.g. --timeout 1200]
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(dirname "$(dirname "$SCRIPT_DIR")")
log() { printf 'grndpool-arm64: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
T_START=$(now)

# --- packages: the cross toolchain, QEMU, arm64 libraries (multiarch) --------
NATIVE=(cmake make pkg-config g++-aarch64-linux-gnu qemu-system-arm)
FOREIGN=(libssl-dev:arm64 liburcu-dev:arm64 libgtest-dev:arm64)
missing=()
for p in "${NATIVE[@]}"; do
	dpkg -s "$p:$(dpkg --print-architecture)" >/dev/null 2>&1 || dpkg -s "$p" >/dev/null 2>&1 ||
		missing+=("$p")
done
for p in "${FOREIGN[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
	((EUID == 0)) || die "missing packages (${missing[*]}) and not root to install them"
	log "installing ${missing[*]}"
	dpkg --print-foreign-architectures | grep -qx arm64 || dpkg --add-architecture arm64
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		"${missing[@]}" >&2
fi

# --- the cross build ------------------------------------------------------------
cd "$REPO_DIR"
T_BUILD=$(now)
cmake --preset arm64 >/dev/null
nice -n 10 cmake --build --preset arm64 >&2 || die "the arm64 cross build failed"
log "cross build (arm64) took $(elapsed "$T_BUILD") s"
LIST=build-arm64/vm-payloads.txt
[[ -s $LIST ]] || die "$LIST is missing: the cross build wrote no payload list"
ARGS=()
while IFS= read -r payload; do
	[[ -n $payload ]] && ARGS+=(--payload "$payload")
done <"$LIST"

# --- the VM -------------------------------------------------------------------
rc=0
"$SCRIPT_DIR/run-tests.sh" --arch arm64 --timeout 1200 "${ARGS[@]}" "$@" || rc=$?
log "total $(elapsed "$T_START") s"
exit "$rc"
