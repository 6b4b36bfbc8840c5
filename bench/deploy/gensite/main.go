// Command gensite writes a synthetic static site for the deploy benchmark, and mutates
// it the way a rebuild does: every file rewritten (new modification time), a fraction of
// them with new content.
//
//	go run ./bench/deploy/gensite -out site -files 2000 -bytes 60000000
//	go run ./bench/deploy/gensite -out site -files 2000 -bytes 60000000 -change 0.01 -round 2
//
// The mix: 40 % HTML pages (small), 25 % CSS/JS assets, 35 % images (large); sizes are
// scaled so the total is about -bytes. Content is deterministic for a given -seed and
// -round, and incompressible, so nothing benefits from compression.
package main

import (
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"path/filepath"
)

func main() {
	out := flag.String("out", "site", "output directory")
	files := flag.Int("files", 2000, "number of files")
	total := flag.Int64("bytes", 60_000_000, "approximate total size")
	change := flag.Float64("change", 0, "fraction of files given new content (a rebuild); 0 writes the initial site")
	round := flag.Int("round", 1, "rebuild number (2, 3 ...): round r changes -change of the files relative to round r-1")
	seed := flag.Uint64("seed", 1, "random seed")
	flag.Parse()

	// Relative weights per kind: html 1, asset 4, image 12 (times the file count share).
	type kind struct {
		share  float64
		weight float64
		dir    string
		ext    string
	}
	kinds := []kind{{0.40, 1, "pages", "html"}, {0.25, 4, "assets", "js"}, {0.35, 12, "img", "png"}}
	var denom float64
	for _, k := range kinds {
		denom += k.share * k.weight
	}
	unit := float64(*total) / float64(*files) / denom

	// contentRound[i] is the last round (2..round) whose change set picked file i, so
	// that round r differs from round r-1 in exactly the files round r picks.
	nChange := int(float64(*files)**change + 0.5)
	contentRounds := make([]uint64, *files)
	if nChange > 0 {
		for r := 2; r <= *round; r++ {
			pick := rand.New(rand.NewPCG(*seed, uint64(r)))
			changed := map[int]bool{}
			for len(changed) < nChange {
				changed[pick.IntN(*files)] = true
			}
			for i := range changed {
				contentRounds[i] = uint64(r)
			}
		}
	}
	for i := 0; i < *files; i++ {
		var k kind
		// Kinds repeat every 100 files; a smaller site spreads the same shares over its files.
		pos := float64(i%100) / 100
		if *files < 100 {
			pos = float64(i) / float64(*files)
		}
		switch {
		case pos < kinds[0].share:
			k = kinds[0]
		case pos < kinds[0].share+kinds[1].share:
			k = kinds[1]
		default:
			k = kinds[2]
		}
		var p string
		if k.ext == "html" {
			p = filepath.Join(k.dir, fmt.Sprintf("s%02d", i%50), fmt.Sprintf("p%05d", i), "index.html")
		} else {
			p = filepath.Join(k.dir, fmt.Sprintf("s%02d", i%50), fmt.Sprintf("f%05d.%s", i, k.ext))
		}
		size := int(unit * k.weight * (0.5 + float64(i%7)/6))
		r := rand.New(rand.NewPCG(*seed+uint64(i), contentRounds[i]))
		buf := make([]byte, size)
		for j := range buf {
			buf[j] = byte(r.UintN(256))
		}
		full := filepath.Join(*out, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			log.Fatal(err)
		}
		if err := os.WriteFile(full, buf, 0o644); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Fprintf(os.Stderr, "gensite: %d files in %s, %d with new content\n", *files, *out, nChange)
}
