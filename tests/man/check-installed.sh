#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Usage: tests/man/check-installed.sh BUILD_DIR
# Installs BUILD_DIR into a temporary prefix and checks its man pages as a
# user finds them (tests/man/check-names.sh).
set -euo pipefail
[[ $# == 1 && -d $1 ]] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/grndpool-man.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cmake --install "$1" --prefix "$tmp" >"$tmp/install.log" || { cat "$tmp/install.log"; exit 1; }
bash "$here/check-names.sh" "$tmp/share/man" "$tmp/include/grndpool/grndpool.h"
