#!/bin/bash
# SPDX-License-Identifier: MIT
# Build Debian 12's linux-source-6.12 with the GRND_TIMESTAMP series of
# kernel/patches (build-kernel.sh), boot it under QEMU and run the grndpool
# payloads in it. Run as root on Debian 12; see --help and kernel/README.md.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KERNEL_DIR=$(dirname "$SCRIPT_DIR")
REPO_DIR=$(dirname "$KERNEL_DIR")
VM_DIR=$KERNEL_DIR/vm
SELFTEST=tools/testing/selftests/vDSO/vdso_test_getrandom_timestamp

usage() {
	cat <<EOF
usage: $(basename "$0") [--arch x86_64|arm64] [--payload 'PATH[:ARGS]']... [--timeout SECONDS] [--kvm]

Builds (or reuses from the cache) Linux 6.12 with kernel/patches applied
(build-kernel.sh) for --arch (default x86_64), boots it under QEMU
(qemu-system-x86_64, or qemu-system-aarch64 -machine virt -cpu max) and runs,
from an initramfs, the kselftest of the series ($SELFTEST),
the GRND_TIMESTAMP contract test (kernel/vm/grnd_timestamp_contract.c) and
every extra payload, in that order. On x86_64 it then boots once more with
vdso=0 and runs the kselftest alone: without vDSO getrandom() its system
call tests must pass and only its vDSO tests may skip. Prints one line per
payload and a summary; the whole serial console is kept in the cache's
logs/. Exits non-zero if any payload fails, the VM panics or times out.

  --arch ARCH              x86_64 (default) or arm64 (cross-built with
                           aarch64-linux-gnu-gcc; payloads must be arm64).

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
  --kvm                    try -accel kvm (falls back to TCG if KVM can't
                           boot the VM); the default is TCG emulation.
                           x86_64 only.
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
ARCH=x86_64

while (($#)); do
	case $1 in
	--arch)
		(($# >= 2)) || die "--arch needs an argument"
		ARCH=$2; shift 2 ;;
	--arch=*) ARCH=${1#--arch=}; shift ;;
	--payload)
		(($# >= 2)) || die "--payload needs an argument"
		PAYLOADS+=("$2"); shift 2 ;;
	--payload=*) PAYLOADS+=("${1#--payload=}"); shift ;;
	--timeout)
		(($# >= 2)) || die "--timeout needs an argument"
		PAYLOAD_TIMEOUT=$2; shift 2 ;;
	--timeout=*) PAYLOAD_TIMEOUT=${1#--timeout=}; shift ;;
	--kvm) USE_KVM=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; die "unknown argument: $1" ;;
	esac
done
[[ $PAYLOAD_TIMEOUT =~ ^[1-9][0-9]*$ ]] || die "--timeout wants a positive number of seconds, got '$PAYLOAD_TIMEOUT'"
# The guest's compiler, QEMU, console and what readelf calls its machine.
case $ARCH in
x86_64)
	CC=gcc ELF_MACHINE="X86-64"
	QEMU=(qemu-system-x86_64 -cpu max) CONSOLE=ttyS0 ;;
arm64)
	CC=aarch64-linux-gnu-gcc ELF_MACHINE=AArch64
	# pauth-impdef: TCG's architected pointer authentication is slow to emulate.
	QEMU=(qemu-system-aarch64 -machine virt -cpu max,pauth-impdef=on) CONSOLE=ttyAMA0
	((USE_KVM == 0)) || die "--kvm: x86_64 only" ;;
*) die "--arch: x86_64 or arm64, not '$ARCH'" ;;
esac

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
	readelf -hW "$path" 2>/dev/null | grep -q "Machine: .*$ELF_MACHINE" ||
		die "payload $path is not an $ARCH program: $(readelf -hW "$path" | sed -n 's/ *Machine: *//p')"
	EXTRA_PATHS+=("$path")
	EXTRA_ARGS+=("$args")
done

# --- kernel ----------------------------------------------------------------
read -r CACHE CACHED BOOT_IMAGE < <("$SCRIPT_DIR/build-kernel.sh" --arch "$ARCH" | tail -n 1) ||
	die "building the kernel failed"
[[ -s ${BOOT_IMAGE:-} ]] || die "building the kernel failed"
KERNEL_RELEASE=$(cat "$CACHE/kernelrelease")

WORK=$(mktemp -d "${TMPDIR:-/tmp}/grndpool-kernel.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# --- initramfs -------------------------------------------------------------
ROOT=$WORK/root
mkdir -p "$ROOT"/{dev,proc,sys,tmp,payloads}
CFLAGS=(-static -O2 -Wall -Wextra)
"$CC" "${CFLAGS[@]}" -o "$ROOT/init" "$VM_DIR/init.c"
# -I the repository: the vDSO names of lib/kernel/vdso_names.h.
"$CC" "${CFLAGS[@]}" -I "$REPO_DIR" -o "$ROOT/payloads/grnd_timestamp_contract" \
	"$VM_DIR/grnd_timestamp_contract.c"
# The kselftest, as its Makefile builds it, against the patched uapi headers
# (the build's own export: usr/include holds this arch's asm/ headers).
"$CC" -static -O2 -std=gnu99 -isystem "$CACHE/src/tools/include" -isystem "$CACHE/build/usr/include" \
	-isystem "$CACHE/src/include/uapi" \
	-o "$ROOT/payloads/$(basename "$SELFTEST")" "$CACHE/src/$SELFTEST.c" \
	"$CACHE/src/tools/testing/selftests/vDSO/parse_vdso.c"
{
	echo "/payloads/$(basename "$SELFTEST")"
	echo "/payloads/grnd_timestamp_contract"
} >"$ROOT/payloads.list"
for i in "${!EXTRA_PATHS[@]}"; do
	name=$(basename "${EXTRA_PATHS[$i]}")
	[[ -e $ROOT/payloads/$name ]] && name=$i-$name
	cp "${EXTRA_PATHS[$i]}" "$ROOT/payloads/$name"
	echo "/payloads/$name ${EXTRA_ARGS[$i]}" >>"$ROOT/payloads.list"
done
NPAYLOADS=$(grep -c . "$ROOT/payloads.list")
(cd "$ROOT" && find . -print0 | cpio --null -o -H newc --quiet | gzip -1) >"$WORK/initramfs.gz"
# x86_64's second boot, with vdso=0: the kselftest alone.
NOVDSO=$WORK/novdso
mkdir -p "$NOVDSO"/{dev,proc,sys,tmp,payloads}
cp "$ROOT/init" "$NOVDSO/init"
cp "$ROOT/payloads/$(basename "$SELFTEST")" "$NOVDSO/payloads/"
echo "/payloads/$(basename "$SELFTEST")" >"$NOVDSO/payloads.list"
(cd "$NOVDSO" && find . -print0 | cpio --null -o -H newc --quiet | gzip -1) >"$WORK/novdso.gz"

# --- boot ------------------------------------------------------------------
VM_TIMEOUT=$((120 + PAYLOAD_TIMEOUT * NPAYLOADS))
SERIAL_LOG=$CACHE/logs/run-$(date +%Y%m%d-%H%M%S)-$$.log

# boot ACCEL [INITRAMFS LOG EXTRA_CMDLINE]
boot() {
	local accel=$1 initrd=${2:-$WORK/initramfs.gz} serial=${3:-$SERIAL_LOG} extra=${4:-} rc=0
	timeout --foreground -k 10 "$VM_TIMEOUT" "${QEMU[@]}" \
		-accel "$accel" -m 512M -smp 2 \
		-nographic -no-reboot -nic none \
		-kernel "$BOOT_IMAGE" -initrd "$initrd" \
		-append "console=$CONSOLE panic=-1 quiet GRNDPOOL_PAYLOAD_TIMEOUT=$PAYLOAD_TIMEOUT $extra" \
		</dev/null >"$serial" 2>&1 || rc=$?
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
NOVDSO_LOG=
NOVDSO_RC=0
if [[ $ARCH == x86_64 ]]; then
	NOVDSO_LOG=$CACHE/logs/run-$(date +%Y%m%d-%H%M%S)-$$-vdso0.log
	boot "$ACCEL" "$WORK/novdso.gz" "$NOVDSO_LOG" vdso=0 || NOVDSO_RC=$?
	BOOT_TIME=$(elapsed "$T_BOOT")
fi

# --- verdict ---------------------------------------------------------------
CLEAN_LOG=$WORK/serial.log
tr -d '\r' <"$SERIAL_LOG" >"$CLEAN_LOG"
awk -f "$SCRIPT_DIR/summarize.awk" "$CLEAN_LOG"
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

# vdso=0: the system call tests ran and passed, and only vDSO tests skipped.
if [[ -n $NOVDSO_LOG ]]; then
	NOVDSO_CLEAN=$WORK/novdso.log
	tr -d '\r' <"$NOVDSO_LOG" >"$NOVDSO_CLEAN"
	ran=$(grep -E '^ok [0-9]+ ' "$NOVDSO_CLEAN" | grep -vc '# SKIP' || true)
	skipped=$(grep -cE '^ok [0-9]+ .*# SKIP' "$NOVDSO_CLEAN" || true)
	other_skips=$(grep -E '^ok [0-9]+ .*# SKIP' "$NOVDSO_CLEAN" | grep -vc 'no vDSO getrandom()' || true)
	failed=$(grep -cE '^not ok [0-9]+ ' "$NOVDSO_CLEAN" || true)
	printf 'grndpool-kernel: %-4s %s with vdso=0: TAP %d ok, %d skipped (vDSO), %d not ok\n' \
		"$( ((ran > 0 && failed == 0 && other_skips == 0)) && echo ok || echo FAIL)" \
		"$(basename "$SELFTEST")" "$ran" "$skipped" "$failed"
	grep -q 'no vDSO getrandom(): the system call tests only' "$NOVDSO_CLEAN" ||
		PROBLEMS+=("vdso=0: the kselftest did not run without the vDSO (log $NOVDSO_LOG)")
	((ran > 0 && failed == 0 && other_skips == 0)) ||
		PROBLEMS+=("vdso=0: kselftest $ran ok, $failed not ok, $other_skips skips that are not the vDSO's (log $NOVDSO_LOG)")
	grep -qE '^GRNDPOOL-VM: done pass=1 fail=0$' "$NOVDSO_CLEAN" ||
		PROBLEMS+=("vdso=0: no clean 'GRNDPOOL-VM: done' line (qemu rc $NOVDSO_RC, log $NOVDSO_LOG)")
fi

SUMMARY="$PASS/$NPAYLOADS payloads, kernel $KERNEL_RELEASE $ARCH ($CACHED, $ACCEL), boot+tests $BOOT_TIME s, total $(elapsed "$T_START") s"
if ((${#PROBLEMS[@]})); then
	printf 'grndpool-kernel: FAIL %s: %s; log %s\n' "$SUMMARY" "$(IFS=';'; echo "${PROBLEMS[*]}")" "$SERIAL_LOG"
	exit 1
fi
printf 'grndpool-kernel: PASS %s\n' "$SUMMARY"
