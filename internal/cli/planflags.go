package cli

import (
	"fmt"

	"github.com/spf13/pflag"

	"github.com/edgeflush/edgeflush/internal/planner"
)

// planFlags is the planner's budget and URL mapping, the one flag set of every command
// that plans (plan, invalidate --changed, deploy): the same spelling, defaults, checks
// and meaning everywhere, and the same config keys and EDGEFLUSH_* variables.
type planFlags struct {
	maxPaths, maxWildcards int
	indexDocument          string
	dirWithoutSlash        bool
}

// register adds the flags to f; when prefixes each usage ("with --changed: ") for a
// command that plans only in some modes.
func (p *planFlags) register(f *pflag.FlagSet, when string) {
	f.IntVar(&p.maxPaths, "max-paths", planner.DefaultMaxPaths, when+"at most this many invalidation paths in all (each is billed)")
	f.IntVar(&p.maxWildcards, "max-wildcards", planner.DefaultMaxWildcards,
		fmt.Sprintf("%sat most this many wildcard paths (0: none; CloudFront allows %d in progress per distribution, and the budget is lowered to those free on every distribution)",
			when, planner.MaxInProgressWildcards))
	f.StringVar(&p.indexDocument, "index-document", "index.html", when+`the directory index document ("-": no index mapping)`)
	f.BoolVar(&p.dirWithoutSlash, "dir-without-slash", false, when+`the site also serves "/dir" for "dir/index.html"`)
}

// check rejects values no plan can use. invalidates is true for the commands that
// send the plan to CloudFront, which refuses more than MaxInProgressWildcards
// wildcards per distribution: a budget above that could plan a batch that is never
// accepted, although one within the limit may exist.
func (p *planFlags) check(invalidates bool) error {
	switch {
	case p.maxPaths < 1:
		return usageErrorf("--max-paths must be at least 1, not %d", p.maxPaths)
	case p.maxWildcards < planner.NoWildcards:
		return usageErrorf("--max-wildcards must be at least 0, not %d", p.maxWildcards)
	case invalidates && p.maxWildcards > planner.MaxInProgressWildcards:
		return usageErrorf("--max-wildcards %d: CloudFront allows at most %d wildcard paths in progress per distribution", p.maxWildcards, planner.MaxInProgressWildcards)
	}
	return nil
}

// input is the planner input for a change set. On the command line (and in the config
// file) 0 means no wildcards, where the planner's 0 means its default; -1 is accepted
// as well, as documented for `edgeflush invalidate` before the flags were shared.
func (p *planFlags) input(all, changed []string) planner.Input {
	wild := p.maxWildcards
	if wild <= 0 {
		wild = planner.NoWildcards
	}
	return planner.Input{
		All: all, Changed: changed,
		MaxPaths: p.maxPaths, MaxWildcards: wild,
		IndexDocument: p.indexDocument, DirWithoutSlash: p.dirWithoutSlash,
	}
}

// reportedWildcards is the wildcard budget as reports show it (0 for none, at most
// the path budget).
func (p *planFlags) reportedWildcards() int {
	return min(max(p.maxWildcards, 0), p.maxPaths)
}
