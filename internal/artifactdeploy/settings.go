package artifactdeploy

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/edgeflush/edgeflush/internal/codepipeline"
	"github.com/edgeflush/edgeflush/internal/siteconfig"
	"github.com/edgeflush/edgeflush/internal/sitesync"
)

// settings are the CLI settings of the artifact's .edgeflush.yaml the action honours
// beyond those that map onto UserParameters.
type settings struct {
	concurrency     int
	indexDocument   string
	dirWithoutSlash bool
}

// applySettings honours the top-level settings of the artifact's config file as the CLI
// does, with UserParameters in the role of flags (they win): max-deletes, max-paths and
// keep-removed fill the parameters UserParameters leaves out; bucket, prefix and
// distribution must agree with UserParameters; concurrency, index-document and
// dir-without-slash apply as in `edgeflush deploy`. Any other key is a CLI setting the
// action has no use for and is rejected by name, never silently ignored.
func applySettings(cfg *siteconfig.Config, p *codepipeline.Params) (settings, error) {
	var out settings
	for _, name := range cfg.SettingKeys() {
		v := cfg.Settings[name]
		bad := func(msg string) error {
			return &codepipeline.ConfigError{Key: "Config", Message: fmt.Sprintf("setting %q of the artifact's %s: %s", name, siteconfig.FileName, msg)}
		}
		str := func() (string, bool) {
			switch x := v.(type) {
			case string:
				return x, true
			case int:
				return strconv.Itoa(x), true
			case bool:
				return strconv.FormatBool(x), true
			}
			return "", false
		}
		s, ok := str()
		var list []string
		if l, isList := v.([]any); isList {
			for _, item := range l {
				if is, ok := item.(string); ok {
					list = append(list, is)
				}
			}
			ok = len(list) == len(l)
		} else if ok {
			list = strings.Split(s, ",")
		}
		if !ok {
			return out, bad("want a string, number or boolean")
		}
		switch name {
		case "max-deletes", "max-paths":
			n, err := strconv.Atoi(s)
			if err != nil {
				return out, bad("want a whole number")
			}
			if name == "max-deletes" && !p.Given["MaxDeletes"] {
				if n < -1 {
					return out, bad("want -1 (no limit), 0 (none) or a count")
				}
				p.MaxDeletes = n
			}
			if name == "max-paths" && !p.Given["MaxPaths"] {
				if n < 1 {
					return out, bad("want at least 1")
				}
				p.MaxPaths = n
			}
		case "keep-removed":
			d, err := time.ParseDuration(s)
			if err != nil || d < 0 {
				return out, bad("want a duration such as 24h or 0")
			}
			if !p.Given["KeepRemoved"] {
				p.KeepRemoved = d
			}
		case "concurrency":
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 {
				return out, bad("want a whole number of at least 1")
			}
			out.concurrency = n
		case "index-document":
			// As the CLI's flag: "-" is none, which the planner and origin.Map both
			// read as such ("" would be the planner's default, index.html).
			out.indexDocument = s
		case "dir-without-slash":
			b, err := strconv.ParseBool(s)
			if err != nil {
				return out, bad("want true or false")
			}
			out.dirWithoutSlash = b
		case "bucket":
			if s != p.Bucket {
				return out, bad(fmt.Sprintf("says %q but UserParameters Bucket says %q; make them agree or remove the setting", s, p.Bucket))
			}
		case "prefix":
			if sitesync.NormalizePrefix(s) != sitesync.NormalizePrefix(p.Prefix) {
				return out, bad(fmt.Sprintf("says %q but UserParameters Prefix says %q; make them agree or remove the setting", s, p.Prefix))
			}
		case "distribution":
			for _, d := range list {
				if d = strings.TrimSpace(d); d != "" && !slices.Contains(p.DistributionIDs, d) {
					return out, bad(fmt.Sprintf("names %s, which UserParameters DistributionId(s) do not; make them agree or remove the setting", d))
				}
			}
		default:
			return out, bad("is a CLI setting the Lambda action does not use; remove it from the artifact's config, or set the action's behaviour in UserParameters")
		}
	}
	return out, nil
}
