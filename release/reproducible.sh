#!/usr/bin/env bash
# Proves that `make dist` is reproducible: builds the release twice, once in this tree
# and once from an export of HEAD at another path (no .git, another directory name),
# with the same VERSION and COMMIT, and compares the SHA256SUMS. Exit 1 on any difference.
# Both builds share the Go build cache unless FRESH_CACHE=1 gives the second its own (an
# empty cache rebuilds the standard library for every target: about half an hour).
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
COMMIT=${COMMIT:-$(git rev-parse HEAD)}
export VERSION COMMIT
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

OUT="$work/a" release/dist.sh >/dev/null
mkdir -p "$work/elsewhere/src-copy"
# The working tree's files as they are (uncommitted changes are in the first build too).
git ls-files -z --cached --others --exclude-standard |
	tar --null -T - --ignore-failed-read -cf - | tar -x -C "$work/elsewhere/src-copy"
if [ "${FRESH_CACHE:-}" = 1 ]; then export GOCACHE="$work/gocache"; fi
(cd "$work/elsewhere/src-copy" && OUT="$work/b" release/dist.sh >/dev/null)

if diff -u "$work/a/SHA256SUMS" "$work/b/SHA256SUMS"; then
	echo "reproducible: $(wc -l <"$work/a/SHA256SUMS") files, identical SHA256SUMS from two builds at two paths"
else
	echo "NOT reproducible: the sums above differ" >&2
	exit 1
fi
