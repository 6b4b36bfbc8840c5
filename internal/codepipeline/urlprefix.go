package codepipeline

import (
	"encoding/json"

	"github.com/edgeflush/edgeflush/internal/origin"
)

// In deploy mode the changed keys are mapped to the URLs each distribution serves them
// at, from its configuration (origin path, behaviors, default root object); "UrlPrefix"
// overrides that where a viewer function rewrites URIs, which the configuration cannot
// show.

// validateURLPrefix checks "UrlPrefix" and keeps it without a trailing slash.
func (p *Params) validateURLPrefix(raw map[string]json.RawMessage) error {
	if _, set := raw["UrlPrefix"]; !set {
		return nil
	}
	if !p.DeployMode() {
		return &ConfigError{Key: "UrlPrefix", Message: "only applies in deploy mode (it maps the deployed keys to URLs); add " + keys["Bucket"] + " or remove UrlPrefix"}
	}
	up, err := origin.CheckURLPrefix(p.URLPrefix)
	if err != nil {
		return &ConfigError{Key: "UrlPrefix", Message: err.Error() + "; write " + keys["UrlPrefix"]}
	}
	p.URLPrefix = up
	return nil
}
