package origin

import (
	"errors"
	"fmt"
	"strings"
)

// KeyURLs is one key of a site and the URL paths (not percent-encoded, with a leading
// "/") the distribution serves it under; none when it is not served from the bucket.
type KeyURLs struct {
	Key  string // relative to the site prefix, as the deploy and the planner use keys
	URLs []string
	// NotServed says why URLs is empty (outside every origin path of the bucket, or
	// routed by a cache behavior to another origin).
	NotServed *NotServedError
}

// KeyMap is how one distribution serves the keys of a site deployed to a bucket prefix.
// Plan per distribution: two distributions may serve the same key under other URLs.
type KeyMap struct {
	Distribution string
	// Origins are the origins of the distribution that read the bucket's site prefix.
	Origins []Origin
	// DefaultRootObject is served for "/" ("" when none).
	DefaultRootObject string
	Keys              []KeyURLs
}

// URLPrefixError is a --url-prefix / UrlPrefix that CloudFront could never serve.
type URLPrefixError struct{ Prefix, Reason string }

func (e *URLPrefixError) Error() string {
	return fmt.Sprintf("URL prefix %q: %s", e.Prefix, e.Reason)
}

// MapKeys maps keys (relative to prefix in bucket) to the URLs the distribution serves
// them under: through every origin reading the bucket, the origin path stripped
// (prefix "site/" and origin path "/site": "a.html" is "/a.html"), leaving out URLs a
// cache behavior routes to another origin (a key with no URL left carries the reason).
//
// urlPrefix, when not "", overrides the mapping where the configuration cannot show it
// (a viewer function that rewrites URIs): every key is served as urlPrefix + "/" + key,
// e.g. "/docs" maps "a.html" to "/docs/a.html"; it must start with "/".
//
// It fails with *NotAnOriginError when no origin reads the bucket, with
// *OriginPathError when none reads the folder the prefix names (nothing deployed there
// can reach visitors), and with *URLPrefixError for a bad urlPrefix.
func (d *Distribution) MapKeys(bucket, prefix string, keys []string, urlPrefix string) (*KeyMap, error) {
	prefix = strings.TrimLeft(prefix, "/")
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	m := &KeyMap{Distribution: d.ID, DefaultRootObject: d.DefaultRootObject, Keys: make([]KeyURLs, 0, len(keys))}
	if urlPrefix != "" {
		switch {
		case !strings.HasPrefix(urlPrefix, "/"):
			return nil, &URLPrefixError{Prefix: urlPrefix, Reason: fmt.Sprintf("must start with '/'; write %q", "/"+urlPrefix)}
		case strings.ContainsAny(urlPrefix, "*?#"):
			return nil, &URLPrefixError{Prefix: urlPrefix, Reason: "must be a plain path, without '*', '?' or '#'"}
		}
		base := strings.TrimRight(urlPrefix, "/")
		for _, k := range keys {
			m.Keys = append(m.Keys, KeyURLs{Key: k, URLs: []string{base + "/" + k}})
		}
		return m, nil
	}
	all := d.BucketOrigins(bucket)
	if len(all) == 0 {
		return nil, &NotAnOriginError{Distribution: d.ID, Bucket: bucket, Origins: d.Origins}
	}
	for _, o := range all {
		// The origin reads the site when one folder holds the other: origin path /site
		// reads prefix "site/" and "site/docs/"; origin path "" reads every prefix.
		if op := o.KeyPrefix(); strings.HasPrefix(prefix, op) || strings.HasPrefix(op, prefix) {
			m.Origins = append(m.Origins, o)
		}
	}
	if len(m.Origins) == 0 {
		return nil, &OriginPathError{Distribution: d.ID, Bucket: bucket, Prefix: prefix, Origins: all}
	}
	for _, k := range keys {
		ku := KeyURLs{Key: k}
		var last *NotServedError
		for _, o := range m.Origins {
			u, err := d.URL(o, prefix+k)
			if err != nil {
				if errors.As(err, &last) {
					last.Key = k
				}
				continue
			}
			ku.URLs = append(ku.URLs, u)
		}
		if len(ku.URLs) == 0 {
			ku.NotServed = last
		}
		m.Keys = append(m.Keys, ku)
	}
	return m, nil
}

// Served returns the URL paths of every served key, in key order, and the keys that are
// not served (with the reason), for the planner and for the report.
func (m *KeyMap) Served() (urls []string, notServed []*NotServedError) {
	for _, k := range m.Keys {
		urls = append(urls, k.URLs...)
		if k.NotServed != nil {
			notServed = append(notServed, k.NotServed)
		}
	}
	return urls, notServed
}
