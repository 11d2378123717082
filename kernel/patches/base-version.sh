#!/bin/bash
# SPDX-License-Identifier: MIT
# The kernel the series is based on, read from what is installed: Debian's
# linux-source-6.12 package version (dpkg) and, given a tree, its Makefile.
# The cover letter names it on one line; this script writes and checks it,
# so no document carries a version typed by hand.
#
#   base-version.sh                       prints e.g. "6.12.118-1~deb12u1"
#   base-version.sh --upstream            prints e.g. "6.12.118"
#   base-version.sh --check-tree DIR      fails unless DIR/Makefile is that version
#   base-version.sh --check-cover FILE    fails unless FILE has the "Based on" line
#   base-version.sh --update-cover FILE   rewrites FILE's "Based on" line
set -euo pipefail

PACKAGE=linux-source-6.12
die() { printf 'base-version: %s\n' "$*" >&2; exit 1; }

VERSION=$(dpkg-query -W -f '${Version}' "$PACKAGE" 2>/dev/null) ||
	die "$PACKAGE is not installed (apt-get install $PACKAGE)"
# Debian's upstream part: 6.12.118-1~deb12u1 -> 6.12.118
UPSTREAM=${VERSION%%-*}
LINE="Based on Debian's $PACKAGE ($VERSION, Linux $UPSTREAM)."

case ${1:-} in
"") echo "$VERSION" ;;
--upstream) echo "$UPSTREAM" ;;
--line) echo "$LINE" ;;
--check-tree)
	mk=$2/Makefile
	tree=$(awk -F' = ' '$1 == "VERSION" { v = $2 } $1 == "PATCHLEVEL" { p = $2 }
		$1 == "SUBLEVEL" { s = $2; print v "." p "." s; exit }' "$mk")
	[[ $tree == "$UPSTREAM" ]] || die "$mk is Linux $tree, the package says $UPSTREAM"
	;;
--check-cover)
	grep -qxF -- "$LINE" "$2" ||
		die "$2 does not say '$LINE' (the installed source): run $0 --update-cover $2"
	;;
--update-cover)
	grep -q "^Based on Debian's $PACKAGE " "$2" || die "$2 has no 'Based on Debian's $PACKAGE' line"
	sed -i "s|^Based on Debian's $PACKAGE .*|$LINE|" "$2"
	;;
*) die "unknown argument: $1" ;;
esac
