package codepipeline

import (
	"bytes"
	"compress/flate"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/edgeflush/edgeflush/internal/invalidation"
)

// MaxTokenLen is CodePipeline's limit on continuationToken.
const MaxTokenLen = 2048

// tokenPrefix versions the token format. A token from another version is rejected
// with a clear message instead of being misread.
const tokenPrefix = "v1."

// maxInflated bounds the decompressed token so a crafted token cannot balloon memory.
const maxInflated = 64 << 10

// State is everything a continuation job needs; CodePipeline gives the next job only
// the token, so nothing else may be assumed to survive between invocations.
type State struct {
	// FirstJobID is the id of the job that started the chain. Caller references derive
	// from it, so a creation retried on a later job still deduplicates.
	FirstJobID string
	// Start is when the first job started; MaxWaitMinutes and "seconds waited" count from it.
	Start time.Time
	// Distributions lists every distribution, in the order of the parameters.
	Distributions []string
	// IDs is parallel to Distributions: the invalidation id, or "" while its creation
	// is still pending (TooManyInvalidationsInProgress, transient errors).
	IDs []string
	// Completed is parallel to Distributions: whether that invalidation was seen Completed,
	// so it is not polled again.
	Completed []bool
	// Paths are the prepared invalidation paths, identical for every distribution. They
	// are required while a creation is pending; otherwise they may be dropped to fit the
	// token, and only PathCount remains for the summary.
	Paths     []string
	PathCount int
	// Deploy is set in deploy mode: the counts for the final summary and output variables.
	Deploy *DeployCounts
	// Verified counts the URLs "Verify" found fresh (the final job only; not in the token).
	Verified, Unverified int
	// Deploying is set while the deploy itself continues in the next job (a sync larger
	// than one invocation): its state (the keys and the planned paths) lives in the
	// site's ledger under FirstJobID, not in the token.
	Deploying bool
}

// DeployCounts is what the final report needs from a deploy.
type DeployCounts struct {
	Uploaded, Deleted int
}

// Pending reports whether some creation is still pending.
func (s State) Pending() bool {
	for _, id := range s.IDs {
		if id == "" {
			return true
		}
	}
	return false
}

// wireState is the compact JSON inside the token.
type wireState struct {
	J string   `json:"j"`
	S int64    `json:"s"` // unix milliseconds
	D []string `json:"d"`
	I []string `json:"i"`
	C []bool   `json:"c,omitempty"`
	P []string `json:"p,omitempty"`
	N int      `json:"n"`
	U *int     `json:"u,omitempty"`
	X *int     `json:"x,omitempty"`
	G bool     `json:"g,omitempty"`
}

// TokenError says why a continuation token cannot be used.
type TokenError struct{ Reason string }

func (e *TokenError) Error() string { return "continuation token: " + e.Reason }

// TokenTooLargeError says the state does not fit CodePipeline's token limit.
type TokenTooLargeError struct {
	Len     int
	Pending []string // distributions whose creation is pending
}

func (e *TokenTooLargeError) Error() string {
	return fmt.Sprintf("the state to carry to the next job needs %d characters, more than CodePipeline's %d-character continuation token", e.Len, MaxTokenLen)
}

// EncodeToken encodes s as a versioned, compressed token of at most MaxTokenLen
// characters. When the full state does not fit and no creation is pending, the path
// list (only used for the summary) is dropped; if it still does not fit the error is
// a *TokenTooLargeError.
func EncodeToken(s State) (string, error) {
	tok, err := encodeToken(s, true)
	if err != nil {
		return "", err
	}
	if len(tok) <= MaxTokenLen {
		return tok, nil
	}
	if !s.Pending() && len(s.Paths) > 0 {
		tok, err = encodeToken(s, false)
		if err != nil {
			return "", err
		}
		if len(tok) <= MaxTokenLen {
			return tok, nil
		}
	}
	var pending []string
	for i, id := range s.IDs {
		if id == "" && i < len(s.Distributions) {
			pending = append(pending, s.Distributions[i])
		}
	}
	return "", &TokenTooLargeError{Len: len(tok), Pending: pending}
}

func encodeToken(s State, withPaths bool) (string, error) {
	w := wireState{J: s.FirstJobID, S: s.Start.UnixMilli(), D: s.Distributions, I: s.IDs, N: s.PathCount, G: s.Deploying}
	for _, c := range s.Completed {
		if c {
			w.C = s.Completed
			break
		}
	}
	if withPaths {
		w.P = s.Paths
	}
	if s.Deploy != nil {
		u, x := s.Deploy.Uploaded, s.Deploy.Deleted
		w.U, w.X = &u, &x
	}
	if err := validateWire(w); err != nil {
		return "", fmt.Errorf("encode continuation token: %w", err)
	}
	js, err := json.Marshal(w)
	if err != nil {
		return "", fmt.Errorf("encode continuation token: %w", err)
	}
	var buf bytes.Buffer
	zw, err := flate.NewWriter(&buf, flate.BestCompression)
	if err != nil {
		return "", fmt.Errorf("encode continuation token: %w", err)
	}
	if _, err := zw.Write(js); err != nil {
		return "", fmt.Errorf("encode continuation token: %w", err)
	}
	if err := zw.Close(); err != nil {
		return "", fmt.Errorf("encode continuation token: %w", err)
	}
	return tokenPrefix + base64.RawURLEncoding.EncodeToString(buf.Bytes()), nil
}

// DecodeToken restores the state from a token written by EncodeToken. Anything else
// (another version, garbage, a token edited by hand) is a *TokenError.
func DecodeToken(tok string) (State, error) {
	if len(tok) > MaxTokenLen {
		return State{}, &TokenError{Reason: fmt.Sprintf("%d characters, more than the %d CodePipeline allows", len(tok), MaxTokenLen)}
	}
	version, body, ok := strings.Cut(tok, ".")
	if !ok || version == "" {
		return State{}, &TokenError{Reason: "not written by edgeflush (no version prefix)"}
	}
	if version+"." != tokenPrefix {
		return State{}, &TokenError{Reason: fmt.Sprintf("version %q is not understood by this build of edgeflush (it writes %q); was the function updated during a pipeline run? Retry the stage", truncate(version, 16), strings.TrimSuffix(tokenPrefix, "."))}
	}
	compressed, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		return State{}, &TokenError{Reason: "not valid base64url"}
	}
	zr := flate.NewReader(bytes.NewReader(compressed))
	js, err := io.ReadAll(io.LimitReader(zr, maxInflated+1))
	if err != nil {
		return State{}, &TokenError{Reason: "corrupt compressed data"}
	}
	if len(js) > maxInflated {
		return State{}, &TokenError{Reason: "decompresses to more than 64 KiB"}
	}
	var w wireState
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return State{}, &TokenError{Reason: "corrupt state: " + err.Error()}
	}
	if dec.More() {
		return State{}, &TokenError{Reason: "corrupt state: trailing data"}
	}
	if err := validateWire(w); err != nil {
		var te *TokenError
		if errors.As(err, &te) {
			return State{}, te
		}
		return State{}, &TokenError{Reason: err.Error()}
	}
	s := State{
		FirstJobID:    w.J,
		Start:         time.UnixMilli(w.S),
		Distributions: w.D,
		IDs:           w.I,
		Completed:     w.C,
		Deploying:     w.G,
		Paths:         w.P,
		PathCount:     w.N,
	}
	if s.Completed == nil {
		s.Completed = make([]bool, len(s.Distributions))
	}
	if w.U != nil || w.X != nil {
		s.Deploy = &DeployCounts{}
		if w.U != nil {
			s.Deploy.Uploaded = *w.U
		}
		if w.X != nil {
			s.Deploy.Deleted = *w.X
		}
	}
	return s, nil
}

var (
	distributionIDRE = regexp.MustCompile(`^[A-Za-z0-9]{1,64}$`)
	invalidationIDRE = regexp.MustCompile(`^[A-Za-z0-9]{1,64}$`)
	// CodePipeline job ids are UUIDs; any printable ASCII is accepted since the id is
	// only hashed into caller references.
	jobIDRE = regexp.MustCompile(`^[!-~]{1,128}$`)
)

// validateWire checks the invariants both sides rely on, so a decoded state can be
// used without further checks.
func validateWire(w wireState) error {
	switch {
	case !jobIDRE.MatchString(w.J):
		return &TokenError{Reason: "missing or malformed first job id"}
	case w.S <= 0:
		return &TokenError{Reason: "missing start time"}
	case len(w.D) == 0:
		return &TokenError{Reason: "no distributions"}
	case len(w.I) != len(w.D):
		return &TokenError{Reason: "invalidation ids do not match the distributions"}
	case w.C != nil && len(w.C) != len(w.D):
		return &TokenError{Reason: "completion flags do not match the distributions"}
	case w.N < 0 || w.N > 1<<20:
		return &TokenError{Reason: "bad path count"}
	case (w.U != nil && *w.U < 0) || (w.X != nil && *w.X < 0):
		return &TokenError{Reason: "bad deploy counts"}
	}
	seen := make(map[string]bool, len(w.D))
	pending := false
	for i, d := range w.D {
		if !validTarget(d) || seen[d] {
			return &TokenError{Reason: "malformed or repeated distribution id"}
		}
		seen[d] = true
		if w.I[i] == "" {
			pending = true
			if w.C != nil && w.C[i] {
				return &TokenError{Reason: "a pending creation is marked completed"}
			}
		} else if !invalidationIDRE.MatchString(w.I[i]) {
			return &TokenError{Reason: "malformed invalidation id"}
		}
	}
	if pending && len(w.P) == 0 && !w.G {
		return &TokenError{Reason: "a creation is pending but the token has no paths"}
	}
	if len(w.P) > 0 && len(w.P) != w.N {
		return &TokenError{Reason: "path count does not match the paths"}
	}
	for _, p := range w.P {
		if p == "" || (p[0] != '/' && !invalidation.IsTag(p)) {
			return &TokenError{Reason: "malformed path"}
		}
	}
	return nil
}

// truncate shortens s to at most n bytes without splitting a UTF-8 sequence,
// marking the cut with "…".
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const ell = "…"
	cut := n - len(ell)
	if cut < 0 {
		cut = 0
	}
	for cut > 0 && !utf8RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ell
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
