#!/usr/bin/env bash
# Deploy benchmark: `edgeflush deploy` against `aws s3 sync` (awscli), same moto, same run.
#
#   bench/deploy/run.sh            # full run: 2,000 files (~60 MB), then memory at 20,000 files
#   FILES=500 BYTES=15000000 BIG_FILES=2000 bench/deploy/run.sh   # quick smoke run
#
# For each endpoint (moto direct, and moto behind bench/deploy/latencyproxy adding
# DELAY to every request) it times, into fresh buckets:
#   1. the initial deploy of the generated site,
#   2. REBUILDS (3) redeploys, each after a rebuild that rewrote every file (new mtime)
#      and changed CHANGE of them (gensite -change), counting the objects each tool
#      wrote; the median is reported (the machine may be shared with other work).
# Then it measures edgeflush's peak RSS (/usr/bin/time -v) for the initial deploy and a
# no-op redeploy at 20, FILES and BIG_FILES files (MEM_FILES), always BYTES in all: the
# rows differ in the number of keys, not in bytes.
# PARTS=speed or PARTS=memory runs one part only.
# Output: a Markdown table on stdout and in bench/out/deploy/results.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
OUT=$ROOT/bench/out/deploy
FILES=${FILES:-2000}
BYTES=${BYTES:-60000000}
BIG_FILES=${BIG_FILES:-20000}
CHANGE=${CHANGE:-0.01}
DELAY=${DELAY:-20ms}
CONCURRENCY=${CONCURRENCY:-16}
REBUILDS=${REBUILDS:-3}
PARTS=${PARTS:-speed,memory} # which parts to run
MEM_FILES=${MEM_FILES:-20 $FILES $BIG_FILES}
rm -rf "$OUT" && mkdir -p "$OUT"

# EDGEFLUSH_BIN: a prebuilt binary (e.g. from a clean checkout) instead of building this tree.
if [ -n "${EDGEFLUSH_BIN:-}" ]; then cp "$EDGEFLUSH_BIN" "$OUT/edgeflush"; else go build -o "$OUT/edgeflush" ./cmd/edgeflush; fi
go build -o "$OUT/latencyproxy" ./bench/deploy/latencyproxy
go build -o "$OUT/gensite" ./bench/deploy/gensite

freeport() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
MOTO_PORT=$(freeport)
PROXY_PORT=$(freeport)
moto_server -H 127.0.0.1 -p "$MOTO_PORT" >"$OUT/moto.log" 2>&1 &
MOTO_PID=$!
"$OUT/latencyproxy" -listen "127.0.0.1:$PROXY_PORT" -upstream "http://127.0.0.1:$MOTO_PORT" -delay "$DELAY" >"$OUT/proxy.log" 2>&1 &
PROXY_PID=$!
trap 'kill $MOTO_PID $PROXY_PID 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$MOTO_PORT/moto-api/" >/dev/null && break; sleep 0.2; done

export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE || true

# timed FILE CMD...: runs CMD, appends "wall_seconds max_rss_kb" to FILE.
timed() { local f=$1; shift; /usr/bin/time -f "%e %M" -o "$f" "$@"; }
field() { awk "{print \$$2}" "$1"; }

results=()
run_case() { # NAME ENDPOINT
	local name=$1 ep=$2 site="$OUT/site-$1"
	AWS_ENDPOINT_URL=$ep aws --endpoint-url "$ep" s3 mb "s3://ef-$name" >/dev/null
	AWS_ENDPOINT_URL=$ep aws --endpoint-url "$ep" s3 mb "s3://aws-$name" >/dev/null
	"$OUT/gensite" -out "$site" -files "$FILES" -bytes "$BYTES" 2>/dev/null

	AWS_ENDPOINT_URL=$ep timed "$OUT/$name-ef-init.time" "$OUT/edgeflush" deploy "$site" --bucket "ef-$name" --concurrency "$CONCURRENCY" --output json >"$OUT/$name-ef-init.json"
	timed "$OUT/$name-aws-init.time" aws --endpoint-url "$ep" s3 sync --no-progress "$site" "s3://aws-$name" >"$OUT/$name-aws-init.log"

	# Rebuilds: REBUILDS rounds, each rewriting every file and changing CHANGE of them;
	# the table reports the median round (the machine may be shared) and every round.
	local ef_times=() aws_times=() ef_w="" aws_w=""
	for round in $(seq 2 $((REBUILDS + 1))); do
		sleep 1 # a rebuild happens later: give the new files a strictly newer mtime
		"$OUT/gensite" -out "$site" -files "$FILES" -bytes "$BYTES" -change "$CHANGE" -round "$round" 2>/dev/null
		AWS_ENDPOINT_URL=$ep timed "$OUT/$name-ef-re$round.time" "$OUT/edgeflush" deploy "$site" --bucket "ef-$name" --concurrency "$CONCURRENCY" --output json >"$OUT/$name-ef-re$round.json"
		timed "$OUT/$name-aws-re$round.time" aws --endpoint-url "$ep" s3 sync --no-progress "$site" "s3://aws-$name" >"$OUT/$name-aws-re$round.log"
		ef_times+=("$(field "$OUT/$name-ef-re$round.time" 1)")
		aws_times+=("$(field "$OUT/$name-aws-re$round.time" 1)")
		ef_w+="$(python3 -c 'import json,sys;print(len(json.load(open(sys.argv[1]))["uploads"]))' "$OUT/$name-ef-re$round.json") "
		aws_w+="$(grep -c 'upload:' "$OUT/$name-aws-re$round.log" || true) "
	done

	local ef_init aws_init ef_w0 aws_w0
	ef_init=$(field "$OUT/$name-ef-init.time" 1); aws_init=$(field "$OUT/$name-aws-init.time" 1)
	ef_w0=$(python3 -c 'import json,sys;print(len(json.load(open(sys.argv[1]))["uploads"]))' "$OUT/$name-ef-init.json")
	aws_w0=$(grep -c 'upload:' "$OUT/$name-aws-init.log" || true)
	results+=("| $name | initial deploy | $ef_init s ($ef_w0 objects) | $aws_init s ($aws_w0 objects) |")
	results+=("| $name | rebuild, $CHANGE changed: median (all rounds) | $(median "${ef_times[@]}") s (${ef_times[*]}; objects: ${ef_w% }) | $(median "${aws_times[@]}") s (${aws_times[*]}; objects: ${aws_w% }) |")
}

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

if [[ $PARTS == *speed* ]]; then
	run_case direct "http://127.0.0.1:$MOTO_PORT"
	run_case "proxy$DELAY" "http://127.0.0.1:$PROXY_PORT"
fi

# Peak memory of edgeflush as the site grows (moto direct).
mem=()
[[ $PARTS == *memory* ]] || MEM_FILES=""
for n in $MEM_FILES; do
	site="$OUT/mem-site-$n"
	"$OUT/gensite" -out "$site" -files "$n" -bytes "$BYTES" 2>/dev/null
	AWS_ENDPOINT_URL=http://127.0.0.1:$MOTO_PORT aws --endpoint-url "http://127.0.0.1:$MOTO_PORT" s3 mb "s3://mem-$n" >/dev/null
	AWS_ENDPOINT_URL=http://127.0.0.1:$MOTO_PORT /usr/bin/time -v "$OUT/edgeflush" deploy "$site" --bucket "mem-$n" --output json >/dev/null 2>"$OUT/mem-$n-init.txt"
	AWS_ENDPOINT_URL=http://127.0.0.1:$MOTO_PORT /usr/bin/time -v "$OUT/edgeflush" deploy "$site" --bucket "mem-$n" --output json >/dev/null 2>"$OUT/mem-$n-noop.txt"
	rss_init=$(awk -F: '/Maximum resident/ {gsub(/ /,"",$2); print $2}' "$OUT/mem-$n-init.txt")
	rss_noop=$(awk -F: '/Maximum resident/ {gsub(/ /,"",$2); print $2}' "$OUT/mem-$n-noop.txt")
	wall_init=$(awk '/Elapsed \(wall clock\)/ {print $NF}' "$OUT/mem-$n-init.txt")
	mem+=("| $n files, $BYTES bytes | $((rss_init / 1024)) MiB ($wall_init) | $((rss_noop / 1024)) MiB |")
done

{
	echo "## Deploy: edgeflush (concurrency $CONCURRENCY) vs aws s3 sync ($(aws --version 2>&1 | cut -d' ' -f1)), $FILES files, ~$BYTES bytes"
	echo
	echo "| endpoint | run | edgeflush deploy | aws s3 sync |"
	echo "|---|---|---|---|"
	printf '%s\n' "${results[@]}"
	echo
	echo "## edgeflush peak RSS (/usr/bin/time -v)"
	echo
	echo "| site | initial deploy (wall) | no-op redeploy |"
	echo "|---|---|---|"
	printf '%s\n' "${mem[@]}"
} | tee "$OUT/results.md"
