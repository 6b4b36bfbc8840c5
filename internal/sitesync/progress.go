package sitesync

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// ProgressInterval is the longest time between two progress lines in a log (CI, CloudWatch).
const ProgressInterval = 5 * time.Second

// progress shows a bar on a terminal. Elsewhere (CI logs, CloudWatch), where a redrawn
// bar would only be noise and a line per file floods the log (2,425 lines for a first
// deploy of a documentation site), it prints a line every ProgressInterval or every
// tenth of the writes, whichever comes first, and one at the end; with verbose, one
// line per write instead.
type progress struct {
	mu      sync.Mutex
	bar     *progressbar.ProgressBar
	w       io.Writer
	verbose bool
	done    int
	n       int
	// nextStep is the write count that prints the next tenth; last is when the last
	// line was printed; now is time.Now (tests replace it).
	nextStep int
	last     time.Time
	now      func() time.Time
}

func newProgress(w io.Writer, total int, verbose bool) *progress {
	p := &progress{w: w, n: total, verbose: verbose, now: time.Now}
	if w == nil || total == 0 {
		p.w = nil
		return p
	}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) && !verbose {
		p.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription("deploying"),
			progressbar.OptionShowCount(),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
	}
	p.last = p.now()
	p.nextStep = p.tenth()
	return p
}

// tenth is the write count of the next whole tenth after done.
func (p *progress) tenth() int {
	step := max((p.n+9)/10, 1) // rounded up, so a line says at least the tenth
	return (p.done/step + 1) * step
}

func (p *progress) step(op, key string) {
	if p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done++
	switch {
	case p.bar != nil:
		_ = p.bar.Add(1)
	case p.verbose:
		fmt.Fprintf(p.w, "%s %s (%d/%d)\n", op, key, p.done, p.n)
	case p.done == p.n:
		// finish prints the last line.
	case p.done >= p.nextStep || p.now().Sub(p.last) >= ProgressInterval:
		p.line()
	}
}

// line prints "deploying: n/total writes (p %)" and restarts both clocks.
func (p *progress) line() {
	fmt.Fprintf(p.w, "deploying: %d/%d writes (%d %%)\n", p.done, p.n, p.done*100/p.n)
	p.last = p.now()
	p.nextStep = p.tenth()
}

func (p *progress) finish() {
	if p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Finish()
		return
	}
	if !p.verbose && p.done > 0 {
		p.line()
	}
}
