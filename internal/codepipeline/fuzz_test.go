package codepipeline

import (
	"bytes"
	"compress/flate"
	"encoding/base64"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/edgeflush/edgeflush/internal/invalidation"
)

// encodeRawJSON builds a v1 token around arbitrary JSON (tests and fuzz seeds).
func encodeRawJSON(js string) (string, error) {
	var buf bytes.Buffer
	zw, err := flate.NewWriter(&buf, flate.BestCompression)
	if err != nil {
		return "", err
	}
	if _, err := zw.Write([]byte(js)); err != nil {
		return "", err
	}
	if err := zw.Close(); err != nil {
		return "", err
	}
	return tokenPrefix + base64.RawURLEncoding.EncodeToString(buf.Bytes()), nil
}

func FuzzParseParams(f *testing.F) {
	for _, s := range []string{
		seed,
		`{"DistributionIds":["E1","E2"],"Paths":["/a b","/x/*"],"Wait":false,"MaxWaitMinutes":5}`,
		`{"DistributionId":"E1","Bucket":"b","Prefix":"p/","Config":"c.yaml","MaxDeletes":1,"MaxPaths":2}`,
		`{"DistributionId":"E1","SlackWebhookUrl":"https://h/x","RoleArn":"arn:aws:iam::1:role/r","ExternalId":"xx"}`,
		`{"DistributionId":"E1","Paths":["/é*"]}`, `{"distributionid":1}`, `[]`, `{`, ``,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseParams(s)
		if err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("error is not a *ConfigError: %v", err)
			}
			if ce.Message == "" {
				t.Fatal("empty message")
			}
			return
		}
		if utf8.RuneCountInString(s) > MaxUserParametersLen {
			t.Fatal("accepted more than 1000 characters")
		}
		if len(p.DistributionIDs) == 0 || len(p.Paths) == 0 {
			t.Fatalf("accepted without distributions or paths: %+v", p)
		}
		seen := map[string]bool{}
		for _, d := range p.DistributionIDs {
			if seen[d] || !distributionIDRE.MatchString(d) {
				t.Fatalf("bad or repeated distribution %q", d)
			}
			seen[d] = true
		}
		for _, path := range p.Paths {
			if err := invalidation.ValidatePath(path); err != nil {
				t.Fatalf("accepted path %q: %v", path, err)
			}
		}
		if p.MaxWaitMinutes < 1 || p.MaxWaitMinutes > MaxMaxWaitMinutes || p.MaxDeletes < 0 || p.MaxPaths < 0 {
			t.Fatalf("out-of-range numbers: %+v", p)
		}
		if p.ExternalID != "" && p.RoleARN == "" {
			t.Fatal("ExternalId without RoleArn")
		}
		// The state built from accepted params always fits a token when nothing is pending.
		st := State{FirstJobID: "job", Start: time.UnixMilli(1764000000000), Distributions: p.DistributionIDs, IDs: make([]string, len(p.DistributionIDs)),
			Completed: make([]bool, len(p.DistributionIDs)), Paths: p.Paths, PathCount: len(p.Paths)}
		for i := range st.IDs {
			st.IDs[i] = "I" + strings.Repeat("X", 13)
		}
		if _, err := EncodeToken(st); err != nil {
			t.Fatalf("state of accepted params does not encode: %v", err)
		}
	})
}

func FuzzDecodeToken(f *testing.F) {
	valid, err := EncodeToken(sampleState())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	for _, js := range []string{
		`{"j":"a","s":1,"d":["E1"],"i":["I1"],"n":1}`,
		`{"j":"a","s":1,"d":["E1","E2"],"i":["","I2"],"c":[false,true],"p":["/x","/y/*"],"n":2,"u":3,"x":0}`,
		`{"j":"a","s":1,"d":["E1"],"i":[""],"n":1}`,
	} {
		tok, err := encodeRawJSON(js)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(tok)
	}
	f.Add("v1.")
	f.Add("v2.AAAA")
	f.Add("garbage")
	f.Fuzz(func(t *testing.T, tok string) {
		s, err := DecodeToken(tok)
		if err != nil {
			var te *TokenError
			if !errors.As(err, &te) {
				t.Fatalf("error is not a *TokenError: %v", err)
			}
			return
		}
		// Whatever decodes is usable and survives a round trip.
		if len(s.IDs) != len(s.Distributions) || len(s.Completed) != len(s.Distributions) {
			t.Fatalf("inconsistent state %+v", s)
		}
		again, err := EncodeToken(s)
		if err != nil {
			var tl *TokenTooLargeError
			if errors.As(err, &tl) {
				return // a hand-tuned deflate stream may be denser than ours
			}
			t.Fatalf("decoded state does not encode: %v", err)
		}
		s2, err := DecodeToken(again)
		if err != nil {
			t.Fatalf("re-encoded token does not decode: %v", err)
		}
		if s2.Paths == nil && s.Paths != nil && !s.Pending() {
			s2.Paths = s.Paths // dropped to fit, by design
		}
		if !reflect.DeepEqual(s, s2) {
			t.Fatalf("round trip changed the state:\n %+v\n %+v", s, s2)
		}
	})
}
