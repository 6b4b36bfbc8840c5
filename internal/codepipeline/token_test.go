package codepipeline

import (
	"encoding/base64"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

func sampleState() State {
	return State{
		FirstJobID:    "c0ffee00-1234-4abc-8def-0123456789ab",
		Start:         time.UnixMilli(1764000000123),
		Distributions: []string{"E1AAAAAAAAAAAA", "E2BBBBBBBBBBBB", "E3CCCCCCCCCCCC"},
		IDs:           []string{"I2J0I21PCUYOIK", "", "I9XYZ"},
		Completed:     []bool{true, false, false},
		Paths:         []string{"/index.html", "/blog/*", "/%C3%A9t%C3%A9.html"},
		PathCount:     3,
		Deploy:        &DeployCounts{Uploaded: 12, Deleted: 1},
	}
}

func TestTokenRoundTrip(t *testing.T) {
	for name, s := range map[string]State{
		"full": sampleState(),
		"minimal": {FirstJobID: "j", Start: time.UnixMilli(1), Distributions: []string{"E1"}, IDs: []string{"I1"},
			Completed: []bool{false}, PathCount: 1},
		// A creation still pending carries its batch, cache tag items included.
		"tag items": {FirstJobID: "j", Start: time.UnixMilli(1), Distributions: []string{"E1"}, IDs: []string{""},
			Completed: []bool{false}, Paths: []string{"#efo-0123456789ab", "/docs/*"}, PathCount: 2},
	} {
		t.Run(name, func(t *testing.T) {
			tok, err := EncodeToken(s)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(tok, "v1.") || len(tok) > MaxTokenLen {
				t.Fatalf("token %q", tok)
			}
			got, err := DecodeToken(tok)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, s) {
				t.Fatalf("round trip:\n got  %+v\n want %+v", got, s)
			}
		})
	}
}

func manyPaths(n int) []string {
	var p []string
	for i := 0; i < n; i++ {
		p = append(p, fmt.Sprintf("/%s/%d.html", sha(i), i))
	}
	return p
}

func TestTokenSize(t *testing.T) {
	// Nothing pending: paths are dropped when they do not fit; the count stays.
	s := sampleState()
	s.IDs[1] = "I2"
	s.Paths = manyPaths(400)
	s.PathCount = 400
	tok, err := EncodeToken(s)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeToken(tok)
	if err != nil {
		t.Fatal(err)
	}
	if got.Paths != nil || got.PathCount != 400 {
		t.Fatalf("want paths dropped and count kept, got %d paths, count %d", len(got.Paths), got.PathCount)
	}
	// Pending creation: the paths are needed, so the token is refused.
	s.IDs[1] = ""
	_, err = EncodeToken(s)
	var tl *TokenTooLargeError
	if !errors.As(err, &tl) || fmt.Sprint(tl.Pending) != "[E2BBBBBBBBBBBB]" || tl.Len <= MaxTokenLen {
		t.Fatalf("want TokenTooLargeError naming E2, got %v", err)
	}
	// Compression: typical deploy paths sharing prefixes fit far more than 2048/len.
	s.Paths = nil
	for i := 0; i < 120; i++ {
		s.Paths = append(s.Paths, fmt.Sprintf("/blog/2026/11/post-%03d/index.html", i))
	}
	s.PathCount = len(s.Paths)
	tok, err = EncodeToken(s)
	if err != nil {
		t.Fatalf("120 similar paths (%d bytes) should fit compressed: %v", len(strings.Join(s.Paths, "")), err)
	}
	t.Logf("120 similar paths, one pending creation: token of %d characters", len(tok))
}

func TestDecodeTokenRejects(t *testing.T) {
	valid, err := EncodeToken(sampleState())
	if err != nil {
		t.Fatal(err)
	}
	enc := func(js string) string {
		tok, err := encodeRawJSON(js)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	cases := map[string]struct{ tok, says string }{
		"empty":            {"", "no version"},
		"garbage":          {"hello", "no version"},
		"future version":   {"v2." + valid[3:], `version "v2"`},
		"bad base64":       {"v1.***", "base64"},
		"not deflate":      {"v1." + base64.RawURLEncoding.EncodeToString([]byte("plain text")), "corrupt"},
		"too long":         {"v1." + strings.Repeat("A", 2100), "more than"},
		"truncated":        {valid[:len(valid)-5], ""},
		"unknown field":    {enc(`{"j":"a","s":1,"d":["E1"],"i":["I1"],"n":1,"zz":1}`), "unknown field"},
		"no distributions": {enc(`{"j":"a","s":1,"d":[],"i":[],"n":1}`), "no distributions"},
		"ids mismatch":     {enc(`{"j":"a","s":1,"d":["E1"],"i":[],"n":1}`), "do not match"},
		"pending no paths": {enc(`{"j":"a","s":1,"d":["E1"],"i":[""],"n":1}`), "no paths"},
		"bad dist":         {enc(`{"j":"a","s":1,"d":["E1/../x"],"i":["I1"],"n":1}`), "distribution"},
		"repeated dist":    {enc(`{"j":"a","s":1,"d":["E1","E1"],"i":["I1","I2"],"n":1}`), "repeated"},
		"no job":           {enc(`{"s":1,"d":["E1"],"i":["I1"],"n":1}`), "job id"},
		"no start":         {enc(`{"j":"a","d":["E1"],"i":["I1"],"n":1}`), "start"},
		"bad path":         {enc(`{"j":"a","s":1,"d":["E1"],"i":[""],"p":["x"],"n":1}`), "path"},
		"count mismatch":   {enc(`{"j":"a","s":1,"d":["E1"],"i":[""],"p":["/x"],"n":2}`), "count"},
		"pending complete": {enc(`{"j":"a","s":1,"d":["E1"],"i":[""],"c":[true],"p":["/x"],"n":1}`), "pending"},
		"trailing":         {enc(`{"j":"a","s":1,"d":["E1"],"i":["I1"],"n":1} {}`), "trailing"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := DecodeToken(c.tok)
			var te *TokenError
			if !errors.As(err, &te) {
				t.Fatalf("want *TokenError, got %v", err)
			}
			if !strings.Contains(err.Error(), c.says) {
				t.Fatalf("error %q lacks %q", err, c.says)
			}
		})
	}
}

func TestDecodeTokenBoundsInflation(t *testing.T) {
	// A highly compressible payload: 1 MiB of spaces inside the JSON.
	tok, err := encodeRawJSON(`{"j":"a","s":1,"d":["E1"],"i":["I1"],"n":1}` + strings.Repeat(" ", 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	if len(tok) > MaxTokenLen {
		t.Skipf("bomb token is %d characters", len(tok))
	}
	if _, err := DecodeToken(tok); err == nil || !strings.Contains(err.Error(), "64 KiB") {
		t.Fatalf("want the inflation bound to trip, got %v", err)
	}
}
