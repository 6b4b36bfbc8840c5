// Package origin reads a CloudFront distribution's configuration and answers what
// edgeflush must know before it checks or invalidates URLs of a site kept in an S3
// bucket: the distribution's domain name, its origins, which origin serves a bucket
// (every spelling of an S3 origin), that origin's OriginPath, the cache behaviors that
// route URLs to it, and the default root object.
//
// The commonest reason a correct invalidation leaves a site stale is a distribution that
// does not read the bucket (or the prefix) the deploy wrote: CheckSite says so with
// typed errors (*NotAnOriginError, *OriginPathError) before anything is checked or
// written. URL maps a bucket key to the URL a visitor uses (the origin path stripped,
// keys routed to another origin left out), per distribution.
package origin

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
)

// API is the part of *cloudfront.Client this package reads with: one GetDistribution
// gives the domain name and the whole configuration (IAM: cloudfront:GetDistribution).
type API interface {
	GetDistribution(ctx context.Context, in *cloudfront.GetDistributionInput, optFns ...func(*cloudfront.Options)) (*cloudfront.GetDistributionOutput, error)
}

// Kind tells how an origin reaches its content.
type Kind int

const (
	// Custom is any HTTP origin that is not recognisably an S3 bucket.
	Custom Kind = iota
	// S3 is an S3 REST endpoint (bucket.s3[.REGION|-REGION|.dualstack.REGION].amazonaws.com).
	S3
	// S3Website is an S3 static-website endpoint (bucket.s3-website-REGION.amazonaws.com
	// or bucket.s3-website.REGION.amazonaws.com), a custom origin to CloudFront: S3 serves
	// a directory's index document itself.
	S3Website
)

func (k Kind) String() string {
	switch k {
	case S3:
		return "S3"
	case S3Website:
		return "S3 website"
	}
	return "custom"
}

// Origin is one origin of a distribution.
type Origin struct {
	ID, DomainName string
	// Path is the OriginPath: "" or "/site" (no trailing slash), the folder of the
	// bucket a URL is read from (/a.html reads site/a.html).
	Path string
	Kind Kind
	// Bucket and Region are set for S3 and S3Website origins (Region may be "" for the
	// global endpoint bucket.s3.amazonaws.com).
	Bucket, Region string
}

// KeyPrefix is the key prefix of the bucket this origin serves URLs from: "site/" for
// the origin path "/site", "" for none.
func (o Origin) KeyPrefix() string {
	p := strings.Trim(o.Path, "/")
	if p == "" {
		return ""
	}
	return p + "/"
}

func (o Origin) String() string {
	s := fmt.Sprintf("%s (%s, %s origin", o.ID, o.DomainName, o.Kind)
	if o.Path != "" {
		s += ", origin path " + o.Path
	}
	return s + ")"
}

// Behavior is one cache behavior, in CloudFront's order of precedence.
type Behavior struct {
	// PathPattern as configured ("/docs/*", "*.jpg"); "*" for the default behavior.
	PathPattern string
	Default     bool
	// OriginIDs are the origins the behavior sends requests to: its target origin, or
	// the members of the origin group it targets.
	OriginIDs []string
	// RewritesURI is set when a viewer-request CloudFront function or a viewer- or
	// origin-request Lambda@Edge function runs on the behavior: it may change the URI
	// (the usual "/dir/ -> /dir/index.html" rewrite), which the configuration cannot show.
	RewritesURI bool

	re *regexp.Regexp
}

// Matches reports whether the behavior's path pattern matches the URL path (CloudFront's
// rules: case-sensitive, "*" any run of characters including "/", "?" one character, a
// missing leading "/" allowed).
func (b Behavior) Matches(urlPath string) bool {
	if b.Default {
		return true
	}
	return b.re.MatchString(urlPath)
}

func compilePattern(p string) *regexp.Regexp {
	if !strings.HasPrefix(p, "/") && !strings.HasPrefix(p, "*") {
		p = "/" + p
	}
	var b strings.Builder
	b.WriteString("^")
	for _, r := range p {
		switch r {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

// Distribution is what edgeflush reads of a distribution's configuration.
type Distribution struct {
	ID, DomainName string
	// DefaultRootObject is served for "/" ("" when none is configured).
	DefaultRootObject string
	Origins           []Origin
	// Behaviors are the cache behaviors in order of precedence, the default one last.
	Behaviors []Behavior
}

// FromConfig builds a Distribution from the SDK's configuration types.
func FromConfig(id, domainName string, cfg *types.DistributionConfig) (*Distribution, error) {
	if cfg == nil {
		return nil, fmt.Errorf("distribution %s: no configuration in CloudFront's answer", id)
	}
	d := &Distribution{ID: id, DomainName: domainName, DefaultRootObject: strings.TrimPrefix(aws.ToString(cfg.DefaultRootObject), "/")}
	if cfg.Origins != nil {
		for _, o := range cfg.Origins.Items {
			d.Origins = append(d.Origins, newOrigin(o))
		}
	}
	groups := map[string][]string{}
	if cfg.OriginGroups != nil {
		for _, g := range cfg.OriginGroups.Items {
			var ids []string
			if g.Members != nil {
				for _, m := range g.Members.Items {
					ids = append(ids, aws.ToString(m.OriginId))
				}
			}
			groups[aws.ToString(g.Id)] = ids
		}
	}
	targets := func(id string) []string {
		if m, ok := groups[id]; ok {
			return m
		}
		return []string{id}
	}
	if cfg.CacheBehaviors != nil {
		for _, cb := range cfg.CacheBehaviors.Items {
			p := aws.ToString(cb.PathPattern)
			d.Behaviors = append(d.Behaviors, Behavior{PathPattern: p, OriginIDs: targets(aws.ToString(cb.TargetOriginId)),
				RewritesURI: rewrites(cb.FunctionAssociations, cb.LambdaFunctionAssociations), re: compilePattern(p)})
		}
	}
	if dcb := cfg.DefaultCacheBehavior; dcb != nil {
		d.Behaviors = append(d.Behaviors, Behavior{PathPattern: "*", Default: true, OriginIDs: targets(aws.ToString(dcb.TargetOriginId)),
			RewritesURI: rewrites(dcb.FunctionAssociations, dcb.LambdaFunctionAssociations)})
	}
	return d, nil
}

func rewrites(fa *types.FunctionAssociations, la *types.LambdaFunctionAssociations) bool {
	if fa != nil {
		for _, f := range fa.Items {
			if f.EventType == types.EventTypeViewerRequest {
				return true
			}
		}
	}
	if la != nil {
		for _, l := range la.Items {
			if l.EventType == types.EventTypeViewerRequest || l.EventType == types.EventTypeOriginRequest {
				return true
			}
		}
	}
	return false
}

func newOrigin(o types.Origin) Origin {
	out := Origin{ID: aws.ToString(o.Id), DomainName: aws.ToString(o.DomainName), Path: strings.TrimRight(aws.ToString(o.OriginPath), "/")}
	if bucket, region, kind, ok := ParseS3Domain(out.DomainName); ok {
		out.Bucket, out.Region, out.Kind = bucket, region, kind
	}
	return out
}

var (
	// bucket.s3.amazonaws.com, bucket.s3.REGION.amazonaws.com, bucket.s3-REGION.amazonaws.com,
	// bucket.s3.dualstack.REGION.amazonaws.com (and the .amazonaws.com.cn partition).
	s3RestRE = regexp.MustCompile(`^(.+)\.s3(?:[.-]([a-z0-9-]+)|\.dualstack\.([a-z0-9-]+))?\.amazonaws\.com(?:\.cn)?$`)
	// bucket.s3-website-REGION.amazonaws.com, bucket.s3-website.REGION.amazonaws.com.
	s3WebsiteRE = regexp.MustCompile(`^(.+)\.s3-website[.-]([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$`)
)

// ParseS3Domain recognises an S3 origin's domain name and returns the bucket, the region
// ("" for the global endpoint) and whether it is a REST or a website endpoint.
func ParseS3Domain(domain string) (bucket, region string, kind Kind, ok bool) {
	d := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(domain), "."))
	if m := s3WebsiteRE.FindStringSubmatch(d); m != nil {
		return m[1], m[2], S3Website, true
	}
	if m := s3RestRE.FindStringSubmatch(d); m != nil {
		region := m[2] + m[3]
		if strings.HasPrefix(region, "website") {
			return "", "", Custom, false
		}
		return m[1], region, S3, true
	}
	return "", "", Custom, false
}

// Origin returns the origin with this id.
func (d *Distribution) Origin(id string) (Origin, bool) {
	for _, o := range d.Origins {
		if o.ID == id {
			return o, true
		}
	}
	return Origin{}, false
}

// BucketOrigins returns the origins that read bucket, in configuration order.
func (d *Distribution) BucketOrigins(bucket string) []Origin {
	var out []Origin
	for _, o := range d.Origins {
		if o.Bucket != "" && o.Bucket == strings.ToLower(bucket) {
			out = append(out, o)
		}
	}
	return out
}

// Route returns the behavior CloudFront applies to a URL path (the first whose path
// pattern matches; the default behavior otherwise).
func (d *Distribution) Route(urlPath string) Behavior {
	for _, b := range d.Behaviors {
		if b.Matches(urlPath) {
			return b
		}
	}
	return Behavior{PathPattern: "*", Default: true}
}

// Serves reports whether the behavior for urlPath sends it to origin originID.
func (d *Distribution) Serves(originID, urlPath string) bool {
	for _, id := range d.Route(urlPath).OriginIDs {
		if id == originID {
			return true
		}
	}
	return false
}

// PathPatterns returns the path patterns of the behaviors that route to the origin, in
// order of precedence, and whether the default behavior does too.
func (d *Distribution) PathPatterns(originID string) (patterns []string, isDefault bool) {
	for _, b := range d.Behaviors {
		for _, id := range b.OriginIDs {
			if id != originID {
				continue
			}
			if b.Default {
				isDefault = true
			} else {
				patterns = append(patterns, b.PathPattern)
			}
		}
	}
	return patterns, isDefault
}

// NotAnOriginError: the bucket is not an origin of the distribution.
type NotAnOriginError struct {
	Distribution, Bucket string
	Origins              []Origin
}

func (e *NotAnOriginError) Error() string {
	names := make([]string, 0, len(e.Origins))
	for _, o := range e.Origins {
		names = append(names, o.String())
	}
	list := "none"
	if len(names) > 0 {
		list = strings.Join(names, "; ")
	}
	return fmt.Sprintf("bucket %s is not an origin of distribution %s, so nothing deployed to it reaches visitors through this distribution; its origins are: %s",
		e.Bucket, e.Distribution, list)
}

// OriginPathError: the bucket is an origin, but its origin path reads another folder
// than the site's prefix, so the URLs visitors use are not the ones edgeflush derives.
type OriginPathError struct {
	Distribution, Bucket, Prefix string
	Origins                      []Origin // the origins reading the bucket
}

func (e *OriginPathError) Error() string {
	var paths []string
	for _, o := range e.Origins {
		p := o.Path
		if p == "" {
			p = `"" (the bucket's root)`
		}
		paths = append(paths, fmt.Sprintf("origin %s has origin path %s", o.ID, p))
	}
	want := `no origin path`
	if pre := strings.Trim(e.Prefix, "/"); pre != "" {
		want = "origin path /" + pre
	}
	return fmt.Sprintf("distribution %s reads bucket %s from another folder than the prefix %q (%s; the prefix needs %s): the URLs visitors use are not the keys deployed",
		e.Distribution, e.Bucket, e.Prefix, strings.Join(paths, ", "), want)
}

// Site finds the origin of the distribution that serves bucket with the key prefix
// prefix as its root (origin path "/"+prefix). It fails with *NotAnOriginError when no
// origin reads the bucket, with *OriginPathError when none reads it at that prefix.
func (d *Distribution) Site(bucket, prefix string) (Origin, error) {
	cands := d.BucketOrigins(bucket)
	if len(cands) == 0 {
		return Origin{}, &NotAnOriginError{Distribution: d.ID, Bucket: bucket, Origins: d.Origins}
	}
	want := strings.Trim(prefix, "/")
	for _, o := range cands {
		if strings.Trim(o.Path, "/") == want {
			return o, nil
		}
	}
	return Origin{}, &OriginPathError{Distribution: d.ID, Bucket: bucket, Prefix: prefix, Origins: cands}
}

// NotServedError says why a key has no URL through an origin.
type NotServedError struct {
	Key, URL, Reason string
}

func (e *NotServedError) Error() string {
	if e.URL == "" {
		return fmt.Sprintf("key %s is not served: %s", e.Key, e.Reason)
	}
	return fmt.Sprintf("key %s (URL %s) is not served from this bucket: %s", e.Key, e.URL, e.Reason)
}

// URL maps a key of the bucket o reads to the URL path visitors use (not percent-encoded):
// the origin path's folder is stripped ("site/a.html" -> "/a.html" for origin path
// "/site"). It fails with *NotServedError when the key lies outside that folder or when a
// cache behavior routes the URL to another origin.
func (d *Distribution) URL(o Origin, key string) (string, error) {
	rel, ok := strings.CutPrefix(key, o.KeyPrefix())
	if !ok {
		return "", &NotServedError{Key: key, Reason: fmt.Sprintf("origin %s reads only keys under %s", o.ID, o.KeyPrefix())}
	}
	u := "/" + rel
	if b := d.Route(u); !d.Serves(o.ID, u) {
		return "", &NotServedError{Key: key, URL: u, Reason: fmt.Sprintf("the cache behavior %q routes it to origin %s", b.PathPattern, strings.Join(b.OriginIDs, ", "))}
	}
	return u, nil
}

// DirectoryURL returns the URL that serves an index document besides its own URL
// (urlPath "/docs/index.html" -> "/docs/", "/index.html" -> "/") when the
// distribution serves it: "/" through the default root object, any directory through an
// S3 website origin or a behavior whose function may rewrite the URI. ok is false when
// urlPath is not an index document or the configuration shows no way it is served.
func (d *Distribution) DirectoryURL(o Origin, urlPath, indexDocument string) (dir string, ok bool) {
	if indexDocument == "" {
		return "", false
	}
	dir, isIndex := strings.CutSuffix(urlPath, "/"+indexDocument)
	if !isIndex {
		return "", false
	}
	dir += "/"
	if !d.Serves(o.ID, dir) {
		return "", false
	}
	switch {
	case o.Kind == S3Website:
		return dir, true
	case dir == "/" && d.DefaultRootObject == indexDocument:
		return dir, true
	case d.Route(dir).RewritesURI:
		return dir, true
	}
	return "", false
}

// Reader reads distributions through an API client and keeps each answer for the rest
// of the run (one GetDistribution per distribution).
type Reader struct {
	api   API
	mu    sync.Mutex
	cache map[string]*Distribution
}

// NewReader returns a Reader using api.
func NewReader(api API) *Reader { return &Reader{api: api, cache: map[string]*Distribution{}} }

// Distribution returns the distribution's configuration, read once per Reader.
func (r *Reader) Distribution(ctx context.Context, id string) (*Distribution, error) {
	r.mu.Lock()
	d, ok := r.cache[id]
	r.mu.Unlock()
	if ok {
		return d, nil
	}
	out, err := r.api.GetDistribution(ctx, &cloudfront.GetDistributionInput{Id: aws.String(id)})
	if err != nil {
		return nil, fmt.Errorf("read the configuration of distribution %s: %w", id, err)
	}
	if out.Distribution == nil {
		return nil, fmt.Errorf("read the configuration of distribution %s: empty answer", id)
	}
	d, err = FromConfig(id, aws.ToString(out.Distribution.DomainName), out.Distribution.DistributionConfig)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.cache[id] = d
	r.mu.Unlock()
	return d, nil
}
