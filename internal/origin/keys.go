package origin

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"

	"github.com/edgeflush/edgeflush/internal/invalidation"
)

// Mapping keys to URLs, per distribution. A deploy knows bucket keys ("site/a.html");
// visitors request URLs ("/a.html" behind the origin path "/site"). The planner is pure
// and plans from "keys" whose URL is "/"+key, so Map turns the site's keys into those
// URL keys ("a.html") for one distribution, leaving out what that distribution does not
// serve from the bucket and saying why.

// URLPrefixError is a bad --url-prefix / UrlPrefix value.
type URLPrefixError struct{ Value, Reason string }

func (e *URLPrefixError) Error() string {
	return fmt.Sprintf("URL prefix %q: %s", e.Value, e.Reason)
}

// CheckURLPrefix validates a URL prefix override and returns it without a trailing
// slash ("/" becomes "", the site at the root).
func CheckURLPrefix(p string) (string, error) {
	switch {
	case p == "":
		return "", nil
	case !strings.HasPrefix(p, "/"):
		return "", &URLPrefixError{Value: p, Reason: fmt.Sprintf("must start with '/' (the URL path visitors use for the site's root, e.g. %q)", "/"+strings.TrimLeft(p, "/"))}
	case strings.ContainsAny(p, "*?#"):
		return "", &URLPrefixError{Value: p, Reason: "must be a plain URL path, without '*', '?' or '#'"}
	case strings.Contains(p, "//"):
		return "", &URLPrefixError{Value: p, Reason: "must not contain '//'"}
	}
	return strings.TrimRight(p, "/"), nil
}

// MapOptions say where the site lives and how to read its keys.
type MapOptions struct {
	// Bucket and Prefix (a key prefix such as "site/", "" for the bucket's root) are
	// where the deploy writes.
	Bucket, Prefix string
	// URLPrefix, when set (validated by CheckURLPrefix), overrides the configuration:
	// the key Prefix+"a.html" is the URL URLPrefix+"/a.html", whatever the origin path
	// and behaviors say (for a viewer function that rewrites URIs, which the
	// configuration cannot show). The bucket must still be an origin.
	URLPrefix string
	// IndexDocument is the planner's index document ("" or "-" for none): a changed
	// default root object that is not the index document adds "/" to Extra.
	IndexDocument string
}

// KeyMap is how one distribution serves a site's keys.
type KeyMap struct {
	Distribution string
	// Origins are the origins of the distribution that read the site (none with a URL
	// prefix override).
	Origins []Origin
	// All and Changed are URL keys (the URL without its leading '/', not
	// percent-encoded), for planner.Input.
	All, Changed []string
	// Extra are raw URL paths to invalidate besides the planned ones ("/" for a changed
	// default root object the planner does not know of).
	Extra []string
	// NotServed are the changed keys this distribution does not serve from the bucket:
	// nothing is invalidated for them.
	NotServed []*NotServedError
}

// Signature identifies the plan input: distributions with equal signatures can share
// one plan.
func (m *KeyMap) Signature() string {
	return strings.Join(m.All, "\x00") + "\x01" + strings.Join(m.Changed, "\x00") + "\x01" + strings.Join(m.Extra, "\x00")
}

// Map maps the site's keys (all, and the changed ones, full bucket keys under
// o.Prefix) to the URL keys this distribution serves. It fails before anything is
// written with *NotAnOriginError when no origin reads the bucket, and with
// *OriginPathError when the origins that read it read another folder than the site.
func (d *Distribution) Map(o MapOptions, all, changed []string) (*KeyMap, error) {
	cands := d.BucketOrigins(o.Bucket)
	if len(cands) == 0 {
		return nil, &NotAnOriginError{Distribution: d.ID, Bucket: o.Bucket, Origins: d.Origins}
	}
	m := &KeyMap{Distribution: d.ID}
	prefix := o.Prefix
	if o.URLPrefix != "" {
		m.All = mapPrefix(all, prefix, o.URLPrefix)
		m.Changed = mapPrefix(changed, prefix, o.URLPrefix)
		slices.Sort(m.All)
		slices.Sort(m.Changed)
		return m, nil
	}
	// An origin whose folder contains the site, or lies inside it, serves some of it.
	for _, c := range cands {
		kp := c.KeyPrefix()
		if strings.HasPrefix(prefix, kp) || strings.HasPrefix(kp, prefix) {
			m.Origins = append(m.Origins, c)
		}
	}
	if len(m.Origins) == 0 {
		return nil, &OriginPathError{Distribution: d.ID, Bucket: o.Bucket, Prefix: prefix, Origins: cands}
	}
	urls := func(key string) ([]string, *NotServedError) {
		var out []string
		var first *NotServedError
		for _, c := range m.Origins {
			u, err := d.URL(c, key)
			if err != nil {
				var ns *NotServedError
				if first == nil && errors.As(err, &ns) {
					first = ns
				}
				continue
			}
			out = append(out, strings.TrimPrefix(u, "/"))
		}
		if len(out) > 0 {
			return out, nil
		}
		return nil, first
	}
	for _, k := range all {
		if u, _ := urls(k); len(u) > 0 {
			m.All = append(m.All, u...)
		}
	}
	root := d.DefaultRootObject
	index := o.IndexDocument
	if index == "-" {
		index = ""
	}
	for _, k := range changed {
		u, ns := urls(k)
		if len(u) == 0 {
			if ns != nil {
				m.NotServed = append(m.NotServed, ns)
			}
			continue
		}
		m.Changed = append(m.Changed, u...)
		if root != "" && root != index && slices.Contains(u, root) && !slices.Contains(m.Extra, "/") {
			// "/" serves the default root object; the planner only knows the index
			// document's directory URLs.
			m.Extra = append(m.Extra, "/")
		}
	}
	if len(all) > 0 && len(m.All) == 0 {
		// Not one key of the site is served: the origin reads another folder.
		return nil, &OriginPathError{Distribution: d.ID, Bucket: o.Bucket, Prefix: prefix, Origins: cands}
	}
	slices.Sort(m.All)
	m.All = slices.Compact(m.All)
	slices.Sort(m.Changed)
	m.Changed = slices.Compact(m.Changed)
	return m, nil
}

func mapPrefix(keys []string, prefix, urlPrefix string) []string {
	out := make([]string, 0, len(keys))
	base := strings.TrimPrefix(urlPrefix, "/")
	for _, k := range keys {
		rel, ok := strings.CutPrefix(k, prefix)
		if !ok {
			continue
		}
		if base != "" {
			rel = base + "/" + rel
		}
		out = append(out, rel)
	}
	return out
}

// TenantAPI is what reading a distribution tenant needs (IAM:
// cloudfront:GetDistributionTenant on the tenant, cloudfront:GetDistribution on its
// multi-tenant distribution).
type TenantAPI interface {
	GetDistributionTenant(ctx context.Context, in *cloudfront.GetDistributionTenantInput, optFns ...func(*cloudfront.Options)) (*cloudfront.GetDistributionTenantOutput, error)
}

// Target returns the configuration that serves an invalidation target: a distribution's
// own, or for a tenant target (invalidation.TenantTarget) its multi-tenant
// distribution's, with the tenant's parameters put into the origins' "{{name}}"
// placeholders (domain name and origin path) and the tenant's first domain as the
// domain name. Reading a tenant needs a client that also implements TenantAPI.
func (r *Reader) Target(ctx context.Context, target string) (*Distribution, error) {
	id, ok := invalidation.TenantID(target)
	if !ok {
		return r.Distribution(ctx, target)
	}
	r.mu.Lock()
	d, cached := r.cache[target]
	r.mu.Unlock()
	if cached {
		return d, nil
	}
	ta, ok := r.api.(TenantAPI)
	if !ok {
		return nil, fmt.Errorf("read tenant %s: this client cannot read distribution tenants", id)
	}
	out, err := ta.GetDistributionTenant(ctx, &cloudfront.GetDistributionTenantInput{Identifier: aws.String(id)})
	if err != nil {
		return nil, fmt.Errorf("read distribution tenant %s: %w", id, err)
	}
	t := out.DistributionTenant
	if t == nil || aws.ToString(t.DistributionId) == "" {
		return nil, fmt.Errorf("read distribution tenant %s: no multi-tenant distribution in the answer", id)
	}
	parent, err := r.Distribution(ctx, aws.ToString(t.DistributionId))
	if err != nil {
		return nil, fmt.Errorf("tenant %s: %w", id, err)
	}
	params := map[string]string{}
	for _, p := range t.Parameters {
		params[aws.ToString(p.Name)] = aws.ToString(p.Value)
	}
	cp := *parent
	cp.ID = target
	if len(t.Domains) > 0 {
		cp.DomainName = aws.ToString(t.Domains[0].Domain)
	}
	cp.Origins = nil
	for _, o := range parent.Origins {
		o.DomainName, o.Path = fill(o.DomainName, params), fill(o.Path, params)
		if bucket, region, kind, ok := ParseS3Domain(o.DomainName); ok {
			o.Bucket, o.Region, o.Kind = bucket, region, kind
		}
		cp.Origins = append(cp.Origins, o)
	}
	r.mu.Lock()
	r.cache[target] = &cp
	r.mu.Unlock()
	return &cp, nil
}

// fill replaces the "{{name}}" placeholders of a multi-tenant distribution's origin.
func fill(s string, params map[string]string) string {
	if !strings.Contains(s, "{{") {
		return s
	}
	for k, v := range params {
		s = strings.ReplaceAll(s, "{{"+k+"}}", v)
	}
	return s
}
