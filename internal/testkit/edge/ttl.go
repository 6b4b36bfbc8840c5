package edge

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Policy is a cache policy's TTLs plus the error-caching minimum TTL.
type Policy struct {
	Min, Default, Max time.Duration
	Error             time.Duration
}

// CachingOptimized is the managed cache policy CachingOptimized (1 s / 86,400 s /
// 31,536,000 s) with CloudFront's default error caching of 10 s.
var CachingOptimized = Policy{Min: time.Second, Default: 86400 * time.Second, Max: 31536000 * time.Second, Error: 10 * time.Second}

// cacheControl is the part of an origin's Cache-Control header CloudFront reads.
type cacheControl struct {
	sMaxAge, maxAge       time.Duration
	hasSMaxAge, hasMaxAge bool
	noCache               bool // no-cache, no-store or private
}

func parseCacheControl(h http.Header) cacheControl {
	var cc cacheControl
	for _, line := range h.Values("Cache-Control") {
		for _, d := range strings.Split(line, ",") {
			name, val, _ := strings.Cut(strings.TrimSpace(d), "=")
			name = strings.ToLower(strings.TrimSpace(name))
			val = strings.Trim(strings.TrimSpace(val), `"`)
			switch name {
			case "s-maxage", "max-age":
				n, err := strconv.ParseInt(val, 10, 64)
				if err != nil || n < 0 {
					continue // a malformed value is ignored, like a missing one
				}
				if n > 100*365*86400 {
					n = 100 * 365 * 86400 // "the maximum value is 100 years"
				}
				if name == "s-maxage" {
					cc.sMaxAge, cc.hasSMaxAge = time.Duration(n)*time.Second, true
				} else {
					cc.maxAge, cc.hasMaxAge = time.Duration(n)*time.Second, true
				}
			case "no-cache", "no-store", "private":
				cc.noCache = true
			}
		}
	}
	return cc
}

// headerTTL is the lifetime the origin's headers ask for: s-maxage, else max-age, else
// Expires (an unparsable or past Expires counts as 0). ok is false without any of them.
func headerTTL(h http.Header, cc cacheControl, now time.Time) (time.Duration, bool) {
	switch {
	case cc.hasSMaxAge:
		return cc.sMaxAge, true
	case cc.hasMaxAge:
		return cc.maxAge, true
	}
	if v := h.Get("Expires"); v != "" {
		t, err := http.ParseTime(v)
		if err != nil || !t.After(now) {
			return 0, true
		}
		return t.Sub(now), true
	}
	return 0, false
}

func clamp(d, lo, hi time.Duration) time.Duration { return max(lo, min(d, hi)) }

// ObjectTTL is how long CloudFront keeps a 2xx/3xx response, following "Manage how long
// content stays in the cache (expiration)":
//   - no-cache, no-store or private: not cached when the minimum TTL is 0, else cached
//     for the minimum TTL;
//   - s-maxage, else max-age, else Expires: that value clamped to [min, max];
//   - none of them: the greater of the minimum and the default TTL.
//
// store is false when the response is not cached at all. A TTL of 0 with store true
// means "cached, but revalidated with the origin on every request".
func (p Policy) ObjectTTL(h http.Header, now time.Time) (ttl time.Duration, store bool) {
	cc := parseCacheControl(h)
	if cc.noCache {
		if p.Min == 0 {
			return 0, false
		}
		return p.Min, true
	}
	if d, ok := headerTTL(h, cc, now); ok {
		return clamp(d, p.Min, p.Max), true
	}
	return max(p.Min, p.Default), true
}

// cachedErrors are the 4xx/5xx codes CloudFront caches ("HTTP 4xx and 5xx status codes
// that CloudFront caches"); 416 and the others are passed through uncached. 410 is in
// the list of the no-store rule below, so it is cached like them.
var cachedErrors = map[int]bool{400: true, 403: true, 404: true, 405: true, 410: true, 414: true, 500: true, 501: true, 502: true, 503: true, 504: true}

// ErrorTTL is how long CloudFront keeps an error response, following "Control how long
// CloudFront caches errors": the greater of the header's max-age/s-maxage/Expires and
// the error caching minimum TTL, at most the maximum TTL; no-store/no-cache/private
// prevent caching only for 404, 410, 414 and 501; otherwise the error caching minimum
// TTL.
func (p Policy) ErrorTTL(status int, h http.Header, now time.Time) (ttl time.Duration, store bool) {
	if !cachedErrors[status] {
		return 0, false
	}
	cc := parseCacheControl(h)
	if cc.noCache {
		switch status {
		case 404, 410, 414, 501:
			return 0, false
		}
		return p.Error, true
	}
	if d, ok := headerTTL(h, cc, now); ok {
		return min(max(d, p.Error), max(p.Max, p.Error)), true
	}
	return p.Error, true
}

// cacheableStatus are the non-error codes CloudFront caches with the object TTL rules.
func cacheableStatus(status int) bool {
	switch status {
	case 200, 203, 300, 301:
		return true
	}
	return false
}
