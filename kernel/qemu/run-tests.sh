#!/bin/bash
# Build Debian 12's linux-source-6.12 with the GRND_TIMESTAMP series of
# kernel/patches (build-kernel.sh), boot it under QEMU and run the grndpool
# payloads in it. Run as root on Debian 12; see --help and kernel/README.md.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KERNEL_DIR=$(dirname "$SCRIPT_DIR")
VM_DIR=$KERNEL_DIR/vm
SELFTEST=tools/testing/selftests/vDSO/vdso_test_getrandom_timestamp

usage() {
	cat <<EOF
usage: $(basename "$0") [--payload 'PATH[:ARGS]']... [--timeout SECONDS] [--kvm]

Builds (or reuses from the cache) Linux 6.12 with kernel/patches applied
(build-kernel.sh), boots it under qemu-system-x86_64 and runs, from an
initramfs, the kselftest of the series ($SELFTEST),
the GRND_TIMESTAMP contract test (kernel/vm/grnd_timestamp_contract.c) and
every extra payload, in that order. Prints one line per payload and a
summary; the whole serial console is kept in the cache's logs/. Exits
non-zero if any payload fails, the VM panics or times out.

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
	--kvm) USE_KVM=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; die "unknown argument: $1" ;;
	esac
done
[[ $PAYLOAD_TIMEOUT =~ ^[1-9][0-9]*$ ]] || die "--timeout wants a positive number of seconds, got '$PAYLOAD_TIMEOUT'"

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

# --- kernel ----------------------------------------------------------------
read -r CACHE CACHED < <("$SCRIPT_DIR/build-kernel.sh" | tail -n 1) ||
	die "building the kernel failed"
[[ -s $CACHE/bzImage ]] || die "building the kernel failed"
BZIMAGE=$CACHE/bzImage
KERNEL_RELEASE=$(cat "$CACHE/kernelrelease")

WORK=$(mktemp -d "${TMPDIR:-/tmp}/grndpool-kernel.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# --- initramfs -------------------------------------------------------------
ROOT=$WORK/root
mkdir -p "$ROOT"/{dev,proc,sys,tmp,payloads}
CFLAGS=(-static -O2 -Wall -Wextra)
gcc "${CFLAGS[@]}" -o "$ROOT/init" "$VM_DIR/init.c"
gcc "${CFLAGS[@]}" -o "$ROOT/payloads/grnd_timestamp_contract" "$VM_DIR/grnd_timestamp_contract.c"
# The kselftest, as its Makefile builds it, against the patched uapi headers.
gcc -static -O2 -std=gnu99 -isystem "$CACHE/src/tools/include" -isystem "$CACHE/src/include/uapi" \
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

# --- boot ------------------------------------------------------------------
VM_TIMEOUT=$((120 + PAYLOAD_TIMEOUT * NPAYLOADS))
SERIAL_LOG=$CACHE/logs/run-$(date +%Y%m%d-%H%M%S)-$$.log

boot() {
	local accel=$1 cpu=max rc=0
	timeout --foreground -k 10 "$VM_TIMEOUT" qemu-system-x86_64 \
		-accel "$accel" -cpu "$cpu" -m 512M -smp 2 \
		-nographic -no-reboot -nic none \
		-kernel "$BZIMAGE" -initrd "$WORK/initramfs.gz" \
		-append "console=ttyS0 panic=-1 quiet GRNDPOOL_PAYLOAD_TIMEOUT=$PAYLOAD_TIMEOUT" \
		</dev/null >"$SERIAL_LOG" 2>&1 || rc=$?
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

SUMMARY="$PASS/$NPAYLOADS payloads, kernel $KERNEL_RELEASE ($CACHED, $ACCEL), boot+tests $BOOT_TIME s, total $(elapsed "$T_START") s"
if ((${#PROBLEMS[@]})); then
	printf 'grndpool-kernel: FAIL %s: %s; log %s\n' "$SUMMARY" "$(IFS=';'; echo "${PROBLEMS[*]}")" "$SERIAL_LOG"
	exit 1
fi
printf 'grndpool-kernel: PASS %s\n' "$SUMMARY"
