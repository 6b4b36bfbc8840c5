#!/usr/bin/env bash
# Builds every release artifact into $OUT (default dist/release), reproducibly: the same
# commit, VERSION and Go toolchain give byte-identical files on any machine and path.
#
#   edgeflush-<os>-<arch>[.exe]     the CLI for linux, darwin, windows on amd64 and arm64
#   edgeflush-lambda-<arch>.zip     the Lambda action (bootstrap for provided.al2023), arm64 and x86_64
#   edgeflush-completion.<shell>    shell completions (bash, zsh, fish, ps1) from cobra
#   SHA256SUMS                      sha256sum of every file above
#
# Reproducible: CGO off, -trimpath (no local paths), -buildvcs=false and -buildid= (no
# VCS stamp or build id that would differ between a clone and a tarball), the version
# and commit stamped through -ldflags -X instead, zip entries with a fixed time and mode
# and no extra fields. release/reproducible.sh builds twice from two paths and compares.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
OUT=${OUT:-dist/release}
VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
COMMIT=${COMMIT:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}
PKG=github.com/edgeflush/edgeflush/internal/cli
LDFLAGS="-s -w -buildid= -X $PKG.version=$VERSION -X $PKG.commit=$COMMIT"
export CGO_ENABLED=0 GOFLAGS="-trimpath -buildvcs=false" TZ=UTC

rm -rf "$OUT"
mkdir -p "$OUT"
for os in linux darwin windows; do
	for arch in amd64 arm64; do
		ext=""
		[ "$os" = windows ] && ext=.exe
		GOOS=$os GOARCH=$arch "$GO" build -ldflags "$LDFLAGS" -o "$OUT/edgeflush-$os-$arch$ext" ./cmd/edgeflush
	done
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for arch in arm64 amd64; do
	name=$arch
	[ "$arch" = amd64 ] && name=x86_64 # Lambda's name for the architecture
	mkdir -p "$tmp/$arch"
	GOOS=linux GOARCH=$arch "$GO" build -tags lambda.norpc -ldflags "-s -w -buildid=" -o "$tmp/$arch/bootstrap" ./cmd/edgeflush-lambda
	chmod 0755 "$tmp/$arch/bootstrap"
	touch -t 198001010000.00 "$tmp/$arch/bootstrap" # zip's earliest time, in UTC
	(cd "$tmp/$arch" && zip -q -X "bootstrap.zip" bootstrap)
	mv "$tmp/$arch/bootstrap.zip" "$OUT/edgeflush-lambda-$name.zip"
done

# Completions come from the host's build of the same sources.
"$GO" build -ldflags "$LDFLAGS" -o "$tmp/edgeflush" ./cmd/edgeflush
"$tmp/edgeflush" completion bash >"$OUT/edgeflush-completion.bash"
"$tmp/edgeflush" completion zsh >"$OUT/edgeflush-completion.zsh"
"$tmp/edgeflush" completion fish >"$OUT/edgeflush-completion.fish"
"$tmp/edgeflush" completion powershell >"$OUT/edgeflush-completion.ps1"

(cd "$OUT" && LC_ALL=C sha256sum -- * >SHA256SUMS.tmp && mv SHA256SUMS.tmp SHA256SUMS)
echo "$OUT: edgeflush $VERSION ($COMMIT)"
cat "$OUT/SHA256SUMS"
