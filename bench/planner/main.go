// Command planner-bench measures edgeflush's invalidation planner on the real sites of
// ../shared/bench/planner against "/*" and the s3deploy rule, sweeps the path budget,
// and writes bench/planner/RESULTS.md plus one TSV of per-change-set figures per site.
// Run it from the repository root:
//
//	go run ./bench/planner                        # the full report
//	go run ./bench/planner -synthetic DIR         # write the 100,000-key test site
//	go run ./bench/planner -tags                  # the "Cache tags" section of RESULTS.md
//
// bench/planner/run.sh runs both and times `edgeflush plan` on the synthetic site.
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	data := flag.String("data", "../shared/bench/planner", "benchmark data directory (sites with all.txt and changes/)")
	out := flag.String("out", "bench/planner", "directory for RESULTS.md and results/*.tsv")
	synthetic := flag.String("synthetic", "", "write the synthetic 100,000-key site (all.txt, changed.txt) to this directory and exit")
	keys := flag.Int("keys", 100_000, "with -synthetic: number of keys")
	changed := flag.Int("changed", 2_000, "with -synthetic: number of changed keys")
	tags := flag.Bool("tags", false, "only (re)write the \"Cache tags\" section of RESULTS.md: default budget with and without tag items")
	timing := flag.String("timing", "", "file with the timing measurement of run.sh to include in RESULTS.md")
	flag.Parse()
	var err error
	switch {
	case *tags:
		err = writeTagSection(*data, *out)
	case *synthetic != "":
		err = writeSynthetic(*synthetic, *keys, *changed)
	default:
		err = report(*data, *out, *timing)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "planner-bench:", err)
		os.Exit(1)
	}
}
