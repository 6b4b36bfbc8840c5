package codepipeline

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/edgeflush/edgeflush/internal/invalidation"
)

// MaxUserParametersLen is CodePipeline's limit on the UserParameters string.
const MaxUserParametersLen = 1000

// Defaults for the optional parameters.
const (
	DefaultMaxWaitMinutes = 30
	// DefaultMaxDeletes is the delete guard when MaxDeletes is not given: the CLI's
	// --max-deletes default (sitesync.DefaultMaxDeletes).
	DefaultMaxDeletes = 256
	// DefaultKeepRemoved is how long removed non-page objects stay in the bucket when
	// KeepRemoved is not given: the CLI's --keep-removed default.
	DefaultKeepRemoved = 24 * time.Hour
	// MaxMaxWaitMinutes is the 24 hours CodePipeline allows one action to run.
	MaxMaxWaitMinutes = 24 * 60
)

// DefaultPaths is what is invalidated when UserParameters has no Paths.
var DefaultPaths = []string{"/*"}

// Params are the action's validated UserParameters.
type Params struct {
	PipelineName string
	// DistributionIDs joins DistributionId and DistributionIds, duplicates removed,
	// order kept.
	DistributionIDs []string
	// Paths are prepared for CloudFront (validated, URL-encoded, deduplicated);
	// ["/*"] when not given.
	Paths []string
	// Wait is true unless "Wait": false: the job then succeeds as soon as the
	// invalidations are created.
	Wait           bool
	MaxWaitMinutes int

	// Deploy mode (issue 4): set when Bucket is not empty.
	Bucket, Prefix, Config string
	// MaxDeletes is DefaultMaxDeletes when not given; 0 allows no delete and -1 any
	// number, as --max-deletes in the CLI.
	MaxDeletes, MaxPaths int
	// KeepRemoved is the grace period of removed non-page objects (DefaultKeepRemoved
	// when not given; 0 deletes them once the invalidation completed).
	KeepRemoved time.Duration
	// Given lists the UserParameters keys present, so that settings of the artifact's
	// .edgeflush.yaml apply only where UserParameters says nothing (as flags win over
	// the config file in the CLI).
	Given map[string]bool
	// URLPrefix ("UrlPrefix", deploy mode) overrides the URLs read from the
	// distributions' configuration (urlprefix.go).
	URLPrefix string
	// Release deploys the artifact as a release and switches the KeyValueStore KvsARN to
	// it instead of invalidating (internal/release, issue 12).
	Release bool
	KvsARN  string

	// Verify (deploy mode, with Wait): once the invalidations are Completed, ask each
	// distribution for the changed URLs and fail the job naming any stale one.
	// VerifyBaseURL is where to ask instead of https:// + the distribution's domain.
	Verify        bool
	VerifyBaseURL string

	// Notifications and cross-account (issue 5).
	SlackWebhookURL, SlackWebhookParameter string
	RoleARN, ExternalID                    string
}

// DeployMode reports whether the action syncs its input artifact before invalidating.
func (p Params) DeployMode() bool { return p.Bucket != "" }

// Notify reports whether a Slack notification is configured.
func (p Params) Notify() bool { return p.SlackWebhookURL != "" || p.SlackWebhookParameter != "" }

// LogValue keeps the webhook URL (a secret) and the external id out of logs.
func (p Params) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("pipeline", p.PipelineName),
		slog.Any("distributions", p.DistributionIDs),
		slog.Int("paths", len(p.Paths)),
		slog.Bool("wait", p.Wait),
		slog.Int("max_wait_minutes", p.MaxWaitMinutes),
	}
	if p.DeployMode() {
		attrs = append(attrs, slog.String("bucket", p.Bucket), slog.String("prefix", p.Prefix))
	}
	if p.Verify {
		attrs = append(attrs, slog.Bool("verify", true), slog.String("verify_base_url", p.VerifyBaseURL))
	}
	if p.RoleARN != "" {
		attrs = append(attrs, slog.String("role_arn", p.RoleARN), slog.String("external_id", redactedIfSet(p.ExternalID)))
	}
	if p.Notify() {
		attrs = append(attrs, slog.String("slack_webhook_url", redactedIfSet(p.SlackWebhookURL)), slog.String("slack_webhook_parameter", p.SlackWebhookParameter))
	}
	return slog.GroupValue(attrs...)
}

// ConfigError is a problem with UserParameters. Its message names the key and says
// what to write instead; the job fails with type ConfigurationError.
type ConfigError struct {
	Key     string // the UserParameters key at fault, "" for the whole value
	Message string
}

func (e *ConfigError) Error() string {
	if e.Key == "" {
		return "UserParameters: " + e.Message
	}
	return fmt.Sprintf("UserParameters %q: %s", e.Key, e.Message)
}

// keys lists every accepted key with an example used in error messages. JSON keys
// are matched exactly (case-sensitive), like CodePipeline's own configuration keys.
var keys = map[string]string{
	"PipelineName":          `"PipelineName": "site-pipeline"`,
	"DistributionId":        `"DistributionId": "E2EXAMPLE12345"`,
	"DistributionIds":       `"DistributionIds": ["E2EXAMPLE12345", "E3EXAMPLE67890"]`,
	"DistributionTenantIds": `"DistributionTenantIds": ["dt_2wjDZi3hD1ivOXf6rpZJ0HVZhB1"]`,
	"Paths":                 `"Paths": ["/index.html", "/assets/*"]`,
	"Wait":                  `"Wait": false`,
	"MaxWaitMinutes":        `"MaxWaitMinutes": 30`,
	"Bucket":                `"Bucket": "my-site-bucket"`,
	"Prefix":                `"Prefix": "www/"`,
	"Config":                `"Config": ".edgeflush.yaml"`,
	"MaxDeletes":            `"MaxDeletes": 100`,
	"MaxPaths":              `"MaxPaths": 15`,
	"Release":               `"Release": true`,
	"KvsArn":                `"KvsArn": "arn:aws:cloudfront::123456789012:key-value-store/a1b2c3d4-5678-90ab-cdef-EXAMPLE11111"`,
	"KeepRemoved":           `"KeepRemoved": "24h"`,
	"SlackWebhookUrl":       `"SlackWebhookUrl": "https://hooks.slack.com/services/..."`,
	"SlackWebhookParameter": `"SlackWebhookParameter": "/edgeflush/slack-webhook"`,
	"RoleArn":               `"RoleArn": "arn:aws:iam::123456789012:role/edgeflush-invalidator"`,
	"ExternalId":            `"ExternalId": "my-external-id"`,
	"Verify":                `"Verify": true`,
	"VerifyBaseUrl":         `"VerifyBaseUrl": "https://www.example.com"`,
	"UrlPrefix":             `"UrlPrefix": "/en"`,
}

const seedExample = `{"PipelineName": "site-pipeline", "DistributionId": "E2EXAMPLE12345"}`

// ParseParams validates the action's UserParameters. Every problem is a *ConfigError.
func ParseParams(s string) (Params, error) {
	if n := utf8.RuneCountInString(s); n > MaxUserParametersLen {
		return Params{}, &ConfigError{Message: fmt.Sprintf("%d characters, CodePipeline allows at most %d; list fewer paths (a wildcard such as /assets/* covers a folder) or fewer distributions", n, MaxUserParametersLen)}
	}
	if strings.TrimSpace(s) == "" {
		return Params{}, &ConfigError{Message: "empty; write a JSON object such as " + seedExample}
	}
	if !utf8.ValidString(s) {
		return Params{}, &ConfigError{Message: "not valid UTF-8 text; write a JSON object such as " + seedExample}
	}
	raw, err := decodeObject(s)
	if err != nil {
		return Params{}, err
	}
	// Report unknown keys first and in a stable order: a misspelt key is the most
	// likely cause of every later error.
	names := make([]string, 0, len(raw))
	for k := range raw {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if _, ok := keys[k]; !ok {
			return Params{}, unknownKey(k)
		}
	}

	p := Params{Wait: true, MaxWaitMinutes: DefaultMaxWaitMinutes, MaxDeletes: DefaultMaxDeletes, KeepRemoved: DefaultKeepRemoved,
		Given: make(map[string]bool, len(names))}
	var single string
	var list, paths, tenants []string
	pathsSet := false
	for _, k := range names {
		v := raw[k]
		p.Given[k] = true
		switch k {
		case "PipelineName":
			err = decodeString(k, v, &p.PipelineName)
		case "DistributionId":
			err = decodeString(k, v, &single)
		case "DistributionIds":
			err = decodeStrings(k, v, &list)
		case "DistributionTenantIds":
			err = decodeStrings(k, v, &tenants)
		case "Paths":
			pathsSet = true
			err = decodeStrings(k, v, &paths)
		case "Wait":
			err = decodeBool(k, v, &p.Wait)
		case "MaxWaitMinutes":
			err = decodeInt(k, v, &p.MaxWaitMinutes)
		case "Bucket":
			err = decodeString(k, v, &p.Bucket)
		case "Prefix":
			err = decodeString(k, v, &p.Prefix)
		case "Config":
			err = decodeString(k, v, &p.Config)
		case "MaxDeletes":
			err = decodeInt(k, v, &p.MaxDeletes)
		case "MaxPaths":
			err = decodeInt(k, v, &p.MaxPaths)
		case "Release":
			err = decodeBool(k, v, &p.Release)
		case "KvsArn":
			err = decodeString(k, v, &p.KvsARN)
		case "KeepRemoved":
			err = decodeDuration(k, v, &p.KeepRemoved)
		case "SlackWebhookUrl":
			err = decodeString(k, v, &p.SlackWebhookURL)
		case "SlackWebhookParameter":
			err = decodeString(k, v, &p.SlackWebhookParameter)
		case "RoleArn":
			err = decodeString(k, v, &p.RoleARN)
		case "ExternalId":
			err = decodeString(k, v, &p.ExternalID)
		case "Verify":
			err = decodeBool(k, v, &p.Verify)
		case "VerifyBaseUrl":
			err = decodeString(k, v, &p.VerifyBaseURL)
		case "UrlPrefix":
			err = decodeString(k, v, &p.URLPrefix)
		}
		if err != nil {
			return Params{}, err
		}
	}

	if err := p.setDistributions(single, raw["DistributionId"] != nil, list, raw["DistributionTenantIds"] != nil); err != nil {
		return Params{}, err
	}
	if err := p.setTenants(tenants, raw["DistributionTenantIds"] != nil); err != nil {
		return Params{}, err
	}
	if err := p.setPaths(paths, pathsSet); err != nil {
		return Params{}, err
	}
	if err := p.validateRest(raw); err != nil {
		return Params{}, err
	}
	return p, nil
}

// decodeObject parses the top-level JSON object, rejecting duplicate keys (the last
// one would otherwise win silently) and trailing data.
func decodeObject(s string) (map[string]json.RawMessage, error) {
	notObject := &ConfigError{Message: "not a JSON object; write for example " + seedExample}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, jsonSyntax(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, notObject
	}
	raw := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, jsonSyntax(err)
		}
		k, ok := tok.(string)
		if !ok {
			return nil, notObject
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, jsonSyntax(err)
		}
		if _, dup := raw[k]; dup {
			return nil, &ConfigError{Key: k, Message: "given twice; keep one"}
		}
		raw[k] = v
	}
	if _, err := dec.Token(); err != nil {
		return nil, jsonSyntax(err)
	}
	if rest := s[dec.InputOffset():]; strings.TrimSpace(rest) != "" {
		return nil, &ConfigError{Message: "has text after the JSON object; remove it"}
	}
	return raw, nil
}

func jsonSyntax(err error) error {
	msg := "not valid JSON"
	var se *json.SyntaxError
	if errors.As(err, &se) {
		msg = fmt.Sprintf("not valid JSON (%s at character %d)", se.Error(), se.Offset)
	}
	return &ConfigError{Message: msg + `; use double quotes around keys and strings, e.g. ` + seedExample}
}

func unknownKey(k string) error {
	known := make([]string, 0, len(keys))
	for name := range keys {
		known = append(known, name)
	}
	sort.Strings(known)
	best, bestDist := "", math.MaxInt
	for _, name := range known {
		if strings.EqualFold(name, k) {
			best, bestDist = name, 0
			break
		}
		if d := levenshtein(strings.ToLower(k), strings.ToLower(name)); d < bestDist {
			best, bestDist = name, d
		}
	}
	msg := "unknown key"
	if bestDist <= 3 {
		msg += fmt.Sprintf("; did you mean %q? Write %s", best, keys[best])
	} else {
		msg += "; the keys are " + strings.Join(known, ", ")
	}
	return &ConfigError{Key: truncate(k, 60), Message: msg}
}

func levenshtein(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return math.MaxInt
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func isNull(v json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(v), []byte("null")) }

// jsonKind names the JSON type of v for error messages.
func jsonKind(v json.RawMessage) string {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return "nothing"
	}
	switch v[0] {
	case '"':
		return "a string"
	case '[':
		return "a list"
	case '{':
		return "an object"
	case 't', 'f':
		return "true/false"
	case 'n':
		return "null"
	default:
		return "a number"
	}
}

func wrongType(k string, v json.RawMessage, want string) error {
	return &ConfigError{Key: k, Message: fmt.Sprintf("must be %s, not %s; write %s", want, jsonKind(v), keys[k])}
}

func decodeString(k string, v json.RawMessage, dst *string) error {
	if err := json.Unmarshal(v, dst); err != nil || isNull(v) {
		return wrongType(k, v, "a string")
	}
	return nil
}

func decodeStrings(k string, v json.RawMessage, dst *[]string) error {
	if err := json.Unmarshal(v, dst); err != nil || isNull(v) {
		return wrongType(k, v, "a list of strings")
	}
	return nil
}

func decodeBool(k string, v json.RawMessage, dst *bool) error {
	if err := json.Unmarshal(v, dst); err != nil || isNull(v) {
		return wrongType(k, v, "true or false (without quotes)")
	}
	return nil
}

// decodeDuration reads a Go duration string ("24h", "90m", "0").
func decodeDuration(k string, v json.RawMessage, dst *time.Duration) error {
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return &ConfigError{Key: k, Message: fmt.Sprintf("must be a duration string such as \"24h\" or \"0\", not %s; write %s", jsonKind(v), keys[k])}
	}
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil || d < 0 {
		return &ConfigError{Key: k, Message: fmt.Sprintf("%q is not a duration such as \"24h\", \"90m\" or \"0\"; write %s", truncate(s, 40), keys[k])}
	}
	*dst = d
	return nil
}

func decodeInt(k string, v json.RawMessage, dst *int) error {
	var n json.Number
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.UseNumber()
	// json.Number would also accept a quoted "30": insist on a JSON number.
	if err := dec.Decode(&n); err != nil || isNull(v) || jsonKind(v) != "a number" {
		return wrongType(k, v, "a whole number (without quotes)")
	}
	i, err := n.Int64()
	if err != nil || i < math.MinInt32 || i > math.MaxInt32 {
		return &ConfigError{Key: k, Message: fmt.Sprintf("must be a whole number, not %s; write %s", truncate(n.String(), 40), keys[k])}
	}
	*dst = int(i)
	return nil
}

func (p *Params) setDistributions(single string, singleSet bool, list []string, tenants bool) error {
	if singleSet && strings.TrimSpace(single) == "" {
		return &ConfigError{Key: "DistributionId", Message: "is empty; write " + keys["DistributionId"]}
	}
	all := list
	if singleSet {
		all = append([]string{single}, list...)
	}
	if len(all) == 0 && !tenants {
		return &ConfigError{Key: "DistributionId", Message: "no distribution given; write " + keys["DistributionId"] + " or " + keys["DistributionIds"] + " (or " + keys["DistributionTenantIds"] + ")"}
	}
	for _, id := range all {
		key := "DistributionIds"
		if singleSet && id == single {
			key = "DistributionId"
		}
		if err := checkDistributionID(key, id); err != nil {
			return err
		}
		if !slices.Contains(p.DistributionIDs, id) {
			p.DistributionIDs = append(p.DistributionIDs, id)
		}
	}
	return nil
}

// checkDistributionID catches the usual mix-ups (an ARN, a domain name, a lower-case
// copy) before CloudFront answers with a less helpful NoSuchDistribution.
func checkDistributionID(key, id string) error {
	if distributionIDRE.MatchString(id) && len(id) <= 32 {
		return nil
	}
	hint := "a CloudFront distribution ID looks like E2EXAMPLE12345 (letters and digits)"
	switch {
	case strings.HasPrefix(id, "arn:"):
		if i := strings.LastIndex(id, "/"); i >= 0 && distributionIDRE.MatchString(id[i+1:]) {
			hint = fmt.Sprintf("write the ID only: %q", id[i+1:])
		} else {
			hint = "write the distribution ID only, not its ARN"
		}
	case strings.Contains(id, "cloudfront.net"):
		hint = "write the distribution ID (E2EXAMPLE12345), not its domain name; the CloudFront console lists it"
	case strings.TrimSpace(id) != id:
		hint = fmt.Sprintf("remove the spaces: %q", strings.TrimSpace(id))
	}
	return &ConfigError{Key: key, Message: fmt.Sprintf("%q is not a distribution ID; %s", truncate(id, 80), hint)}
}

func (p *Params) setPaths(paths []string, set bool) error {
	if !set {
		p.Paths = slices.Clone(DefaultPaths)
		return nil
	}
	if len(paths) == 0 {
		return &ConfigError{Key: "Paths", Message: `is an empty list; remove the key to invalidate everything ("/*") or write ` + keys["Paths"]}
	}
	prepared, err := invalidation.PreparePaths(paths)
	if err != nil {
		var pe *invalidation.PathError
		if errors.As(err, &pe) {
			return &ConfigError{Key: "Paths", Message: fmt.Sprintf("%q: %s", truncate(pe.Path, 200), pe.Reason)}
		}
		return &ConfigError{Key: "Paths", Message: err.Error()}
	}
	// More than 15 wildcards (or 3,000 exact paths) in one batch is refused with
	// TooManyInvalidationsInProgress however long one waits: left to CloudFront, the
	// job would keep the creation pending until MaxWaitMinutes instead of saying so.
	if err := invalidation.CheckBatch(prepared); err != nil {
		return &ConfigError{Key: "Paths", Message: err.Error()}
	}
	p.Paths = prepared
	return nil
}

func (p *Params) validateRest(raw map[string]json.RawMessage) error {
	if p.MaxWaitMinutes < 1 || p.MaxWaitMinutes > MaxMaxWaitMinutes {
		return &ConfigError{Key: "MaxWaitMinutes", Message: fmt.Sprintf("must be between 1 and %d (CodePipeline stops an action after 24 hours); write %s", MaxMaxWaitMinutes, keys["MaxWaitMinutes"])}
	}
	if _, set := raw["Bucket"]; set {
		if strings.TrimSpace(p.Bucket) == "" {
			return &ConfigError{Key: "Bucket", Message: "is empty; write the site bucket's name, e.g. " + keys["Bucket"] + ", or remove the key to invalidate without deploying"}
		}
		if name, ok := strings.CutPrefix(p.Bucket, "s3://"); ok {
			name, _, _ = strings.Cut(name, "/")
			return &ConfigError{Key: "Bucket", Message: fmt.Sprintf("write the bucket name only: %q (use Prefix for a folder)", name)}
		}
		if strings.ContainsAny(p.Bucket, "/ ") {
			return &ConfigError{Key: "Bucket", Message: "write the bucket name only, without '/' or spaces (use Prefix for a folder)"}
		}
		if _, set := raw["Paths"]; set {
			return &ConfigError{Key: "Paths", Message: "cannot be combined with Bucket: in deploy mode edgeflush invalidates exactly what the deploy changed; remove Paths (or remove Bucket to invalidate fixed paths)"}
		}
	} else {
		for _, k := range []string{"Prefix", "Config", "MaxDeletes", "MaxPaths", "KeepRemoved", "Release", "KvsArn"} {
			if _, set := raw[k]; set {
				return &ConfigError{Key: k, Message: "only applies in deploy mode; add " + keys["Bucket"] + " or remove " + k}
			}
		}
	}
	if p.Release && !strings.HasPrefix(p.KvsARN, "arn:") {
		return &ConfigError{Key: "KvsArn", Message: "Release needs the KeyValueStore `edgeflush setup --release` printed; write " + keys["KvsArn"]}
	}
	if _, set := raw["KvsArn"]; set && !p.Release {
		return &ConfigError{Key: "KvsArn", Message: "only applies with Release; add " + keys["Release"] + " or remove KvsArn"}
	}
	if p.MaxDeletes < -1 {
		return &ConfigError{Key: "MaxDeletes", Message: "must be 0 (no delete allowed), a count, or -1 (no limit); write " + keys["MaxDeletes"]}
	}
	if p.MaxPaths < 0 || p.MaxPaths > invalidation.MaxInProgressPaths {
		return &ConfigError{Key: "MaxPaths", Message: fmt.Sprintf("must be 0 (the default) to %d (CloudFront's limit of paths in progress); write %s", invalidation.MaxInProgressPaths, keys["MaxPaths"])}
	}
	if strings.HasPrefix(p.Prefix, "/") {
		return &ConfigError{Key: "Prefix", Message: fmt.Sprintf("is a key prefix inside the bucket and must not start with '/'; write %q", strings.TrimLeft(p.Prefix, "/"))}
	}
	if _, set := raw["SlackWebhookUrl"]; set {
		if _, both := raw["SlackWebhookParameter"]; both {
			return &ConfigError{Key: "SlackWebhookUrl", Message: "give either SlackWebhookUrl or SlackWebhookParameter, not both; SlackWebhookParameter keeps the secret URL out of the pipeline definition"}
		}
		if err := CheckWebhookURL(p.SlackWebhookURL); err != nil {
			// The value is a secret: CheckWebhookURL does not echo it.
			return &ConfigError{Key: "SlackWebhookUrl", Message: err.Error() + "; write " + keys["SlackWebhookUrl"]}
		}
	}
	if _, set := raw["SlackWebhookParameter"]; set && strings.TrimSpace(p.SlackWebhookParameter) == "" {
		return &ConfigError{Key: "SlackWebhookParameter", Message: "is empty; write the name of an SSM SecureString parameter, e.g. " + keys["SlackWebhookParameter"]}
	}
	if _, set := raw["RoleArn"]; set {
		if !strings.HasPrefix(p.RoleARN, "arn:") || !strings.Contains(p.RoleARN, ":role/") {
			return &ConfigError{Key: "RoleArn", Message: fmt.Sprintf("%q is not an IAM role ARN; write %s", truncate(p.RoleARN, 120), keys["RoleArn"])}
		}
	}
	if err := p.validateVerify(raw); err != nil {
		return err
	}
	if err := p.validateURLPrefix(raw); err != nil {
		return err
	}
	if _, set := raw["ExternalId"]; set {
		if p.RoleARN == "" {
			return &ConfigError{Key: "ExternalId", Message: "only applies with RoleArn; add " + keys["RoleArn"] + " or remove ExternalId"}
		}
		if n := len(p.ExternalID); n < 2 || n > 1224 {
			return &ConfigError{Key: "ExternalId", Message: "must be 2 to 1224 characters long (an STS rule)"}
		}
	}
	return nil
}

func (p *Params) validateVerify(raw map[string]json.RawMessage) error {
	if _, set := raw["VerifyBaseUrl"]; set {
		if !p.Verify {
			return &ConfigError{Key: "VerifyBaseUrl", Message: "only applies with " + keys["Verify"] + "; add it or remove VerifyBaseUrl"}
		}
		u, err := url.Parse(p.VerifyBaseURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return &ConfigError{Key: "VerifyBaseUrl", Message: fmt.Sprintf("%q is not a base URL; write %s (scheme and host only)", truncate(p.VerifyBaseURL, 120), keys["VerifyBaseUrl"])}
		}
		if len(p.DistributionIDs) > 1 {
			return &ConfigError{Key: "VerifyBaseUrl", Message: fmt.Sprintf("names one distribution's address, but %d distributions are given; remove VerifyBaseUrl to ask each at its own domain", len(p.DistributionIDs))}
		}
	}
	if !p.Verify {
		return nil
	}
	if !p.DeployMode() {
		return &ConfigError{Key: "Verify", Message: "compares what the edge serves with the site bucket, so it needs deploy mode; add " + keys["Bucket"] + " or remove Verify"}
	}
	if !p.Wait {
		return &ConfigError{Key: "Verify", Message: "checks the edge once the invalidations are Completed, so it cannot be combined with \"Wait\": false; remove one of them"}
	}
	return nil
}
