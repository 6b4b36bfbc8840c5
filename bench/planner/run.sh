#!/bin/sh
# Regenerates bench/planner/RESULTS.md and bench/planner/results/*.tsv: the planner
# against "/*" and the s3deploy rule on the real sites of ../shared/bench/planner, the
# budget sweep behind the default, and the time and memory of one `edgeflush plan`
# process on a synthetic 100,000-key site with 2,000 changed keys.
#
#   ./bench/planner/run.sh            (from anywhere; DATA=... to use other data)
#
# Needs Go and /usr/bin/time (GNU time). Takes a few minutes of CPU.
set -eu
cd "$(dirname "$0")/../.."
DATA=${DATA:-../shared/bench/planner}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

go build -o "$tmp/edgeflush" ./cmd/edgeflush
go run ./bench/planner -synthetic "$tmp/site" -keys 100000 -changed 2000

timing="$tmp/timing.md"
{
	echo "Synthetic site: \`go run ./bench/planner -synthetic DIR -keys 100000 -changed 2000\` (documentation-shaped keys, about 40 % of them index pages, so 2,000 changed keys are 2,765 URLs to cover; changes in runs of neighbouring keys and scattered single edits)."
	echo "Measured with \`/usr/bin/time -v edgeflush plan --all all.txt --changed changed.txt --max-paths K --max-wildcards W --output json\`, three runs each; the machine is shared, so wall time includes waiting for a CPU (user + system is the work done)."
	echo
	echo "| K | W | run | wall | user + system | max RSS | paths | collateral |"
	echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
} >"$timing"
for budget in "30 10" "100 15" "1999 15"; do
	set -- $budget
	for run in 1 2 3; do
		/usr/bin/time -v "$tmp/edgeflush" plan --all "$tmp/site/all.txt" --changed "$tmp/site/changed.txt" \
			--max-paths "$1" --max-wildcards "$2" --output json >"$tmp/out.json" 2>"$tmp/time.txt"
		wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$tmp/time.txt")
		user=$(sed -n 's/.*User time (seconds): //p' "$tmp/time.txt")
		sys=$(sed -n 's/.*System time (seconds): //p' "$tmp/time.txt")
		rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$tmp/time.txt")
		paths=$(sed -n 's/.*"billedPaths": \([0-9]*\).*/\1/p' "$tmp/out.json")
		coll=$(sed -n 's/.*"collateral": \([0-9]*\).*/\1/p' "$tmp/out.json")
		cpu=$(echo "$user $sys" | awk '{printf "%.2f s", $1 + $2}')
		mb=$(echo "$rss" | awk '{printf "%.1f MB", $1 / 1024}')
		echo "| $1 | $2 | $run | $wall | $cpu | $mb | $paths | $coll |" >>"$timing"
	done
done
cat "$timing"

go run ./bench/planner -data "$DATA" -out bench/planner -timing "$timing"
# The "Cache tags" section: the default budget with and without tag items (about 5 min).
go run ./bench/planner -tags -data "$DATA" -out bench/planner
echo "wrote bench/planner/RESULTS.md"
