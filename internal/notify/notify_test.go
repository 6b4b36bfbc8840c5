package notify

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// webhook is a local stand-in for a Slack incoming webhook: it records the bodies and
// answers with the next scripted status (200 "ok" when the script is used up).
type webhook struct {
	*httptest.Server
	mu       sync.Mutex
	bodies   []SlackPayload
	ctypes   []string
	statuses []int
	retryAft string
	hang     time.Duration
}

func startWebhook(t *testing.T, statuses ...int) *webhook {
	t.Helper()
	w := &webhook{statuses: statuses}
	w.Server = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var p SlackPayload
		if err := json.Unmarshal(b, &p); err != nil || r.Method != http.MethodPost {
			http.Error(rw, "invalid_payload", http.StatusBadRequest)
			return
		}
		w.mu.Lock()
		w.bodies = append(w.bodies, p)
		w.ctypes = append(w.ctypes, r.Header.Get("Content-Type"))
		status := http.StatusOK
		if len(w.statuses) > 0 {
			status, w.statuses = w.statuses[0], w.statuses[1:]
		}
		hang, retryAfter := w.hang, w.retryAft
		w.mu.Unlock()
		if hang > 0 {
			select {
			case <-time.After(hang):
			case <-r.Context().Done():
			}
		}
		if retryAfter != "" {
			rw.Header().Set("Retry-After", retryAfter)
		}
		rw.WriteHeader(status)
		switch status {
		case http.StatusOK:
			io.WriteString(rw, "ok")
		case http.StatusNotFound:
			io.WriteString(rw, "no_service")
		default:
			io.WriteString(rw, "oops")
		}
	}))
	t.Cleanup(w.Close)
	return w
}

func (w *webhook) received() []SlackPayload {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]SlackPayload(nil), w.bodies...)
}

// secretURL is the server's URL with a path shaped like a real webhook's secret part.
func (w *webhook) secretURL() string { return w.URL + "/services/T000/B000/SeCrEtToKeN" }

var success = Message{
	Pipeline: "site", JobID: "job-1", Succeeded: true,
	Distributions: []string{"E1AAA", "E2BBB"}, Paths: []string{"/index.html", "/a&b<c>.html"},
	InvalidationIDs: []string{"I1", "I2"}, Waited: 83 * time.Second, Region: "eu-west-1",
}

func TestPayloadSuccess(t *testing.T) {
	p := Payload(success)
	if p.Text != "✅ site: CloudFront invalidation done for E1AAA, E2BBB (2 invalidations, waited 1m23s)" {
		t.Errorf("text = %q", p.Text)
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{
		`"type":"header"`, `✅ site: CloudFront cache invalidated`,
		`*Distributions*\nE1AAA, E2BBB`, `*Invalidations*\nI1, I2`, `*Waited*\n1m23s`, "*Job*\\n`job-1`",
		"`/index.html` `/a\\u0026amp;b\\u0026lt;c\\u0026gt;.html`", // mrkdwn-escaped (and JSON-escaped) path
	} {
		if !strings.Contains(s, want) {
			t.Errorf("payload lacks %s:\n%s", want, s)
		}
	}
	last := p.Blocks[len(p.Blocks)-1]
	if last.Type != "context" || last.Elements[0].Text != "<https://eu-west-1.console.aws.amazon.com/codesuite/codepipeline/pipelines/site/view?region=eu-west-1|Open the pipeline in the AWS console>" {
		t.Errorf("last block = %+v", last)
	}
	if strings.Contains(s, "Reason") {
		t.Errorf("success payload has a reason:\n%s", s)
	}
}

func TestPayloadNotWaited(t *testing.T) {
	m := success
	m.NotWaited, m.Waited = true, 0
	p := Payload(m)
	if p.Text != "✅ site: CloudFront invalidation started (not waited for) on E1AAA, E2BBB (2 invalidations)" {
		t.Errorf("text = %q", p.Text)
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if s := string(b); !strings.Contains(s, "CloudFront invalidation started") || strings.Contains(s, "cache invalidated") {
		t.Errorf("a not-waited-for invalidation must not be announced as done:\n%s", s)
	}
}

func TestPayloadFailureAndLimits(t *testing.T) {
	m := Message{Pipeline: "site", JobID: "job-2", Distributions: []string{"E1AAA"},
		Reason: "CloudFront CreateInvalidation: AccessDenied: User is not authorized. " + strings.Repeat("x", 5000)}
	for i := 0; i < 30; i++ {
		m.Paths = append(m.Paths, "/p"+strings.Repeat("y", i))
	}
	p := Payload(m)
	if !strings.HasPrefix(p.Text, "❌ site: edgeflush failed: CloudFront CreateInvalidation: AccessDenied") {
		t.Errorf("text = %q", p.Text)
	}
	var reason, paths string
	for _, b := range p.Blocks {
		if b.Text == nil {
			continue
		}
		if strings.HasPrefix(b.Text.Text, "*Reason*") {
			reason = b.Text.Text
		}
		if strings.HasPrefix(b.Text.Text, "*Paths*") {
			paths = b.Text.Text
		}
		if n := len([]rune(b.Text.Text)); n > maxSectionText {
			t.Errorf("%s block has %d characters, Slack allows %d", b.Type, n, maxSectionText)
		}
	}
	if !strings.Contains(reason, "AccessDenied") || !strings.HasSuffix(reason, "…```") {
		t.Errorf("reason block = %.200q…", reason)
	}
	if !strings.HasSuffix(paths, "… and 10 more") {
		t.Errorf("paths block = %q", paths)
	}
	long := Payload(Message{Pipeline: strings.Repeat("p", 200), Succeeded: true})
	if n := len([]rune(long.Blocks[0].Text.Text)); n > maxHeader {
		t.Errorf("header has %d characters", n)
	}
}

func TestSendPostsJSON(t *testing.T) {
	w := startWebhook(t)
	s := &Slack{WebhookURL: w.secretURL()}
	if err := s.Send(context.Background(), success); err != nil {
		t.Fatal(err)
	}
	got := w.received()
	if len(got) != 1 || got[0].Text != Payload(success).Text || len(got[0].Blocks) != len(Payload(success).Blocks) {
		t.Fatalf("received %+v", got)
	}
	if !strings.HasPrefix(w.ctypes[0], "application/json") {
		t.Errorf("content type %q", w.ctypes[0])
	}
}

func TestSendRetriesOnceOnServerErrors(t *testing.T) {
	w := startWebhook(t, 503)
	s := &Slack{WebhookURL: w.secretURL(), RetryDelay: 10 * time.Millisecond}
	if err := s.Send(context.Background(), success); err != nil {
		t.Fatalf("503 then 200: %v", err)
	}
	if n := len(w.received()); n != 2 {
		t.Errorf("attempts = %d, want 2", n)
	}

	w = startWebhook(t, 500, 500, 500)
	s = &Slack{WebhookURL: w.secretURL(), RetryDelay: 10 * time.Millisecond}
	err := s.Send(context.Background(), success)
	var we *WebhookError
	if !errors.As(err, &we) || we.Status != 500 || len(w.received()) != 2 {
		t.Errorf("err = %v after %d attempts, want a 500 WebhookError after 2", err, len(w.received()))
	}
}

func TestSendDoesNotRetryConfigurationErrors(t *testing.T) {
	w := startWebhook(t, 404)
	err := (&Slack{WebhookURL: w.secretURL(), RetryDelay: time.Millisecond}).Send(context.Background(), success)
	var we *WebhookError
	if !errors.As(err, &we) || we.Body != "no_service" || len(w.received()) != 1 {
		t.Fatalf("err = %v after %d attempts", err, len(w.received()))
	}
	if strings.Contains(err.Error(), "SeCrEtToKeN") {
		t.Errorf("error reveals the webhook URL: %v", err)
	}
}

func TestSendTimesOutQuicklyAndHidesTheURL(t *testing.T) {
	w := startWebhook(t)
	w.hang = 5 * time.Second
	start := time.Now()
	err := (&Slack{WebhookURL: w.secretURL(), Timeout: 200 * time.Millisecond}).Send(context.Background(), success)
	if err == nil {
		t.Fatal("a hanging webhook succeeded")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Send took %s with a 200ms timeout", d)
	}
	if strings.Contains(err.Error(), "SeCrEtToKeN") || strings.Contains(err.Error(), w.URL) {
		t.Errorf("error reveals the webhook URL: %v", err)
	}

	// A Retry-After longer than the time left: one attempt, no sleeping past the timeout.
	w = startWebhook(t, 429, 200)
	w.retryAft = "30"
	start = time.Now()
	err = (&Slack{WebhookURL: w.secretURL(), Timeout: 300 * time.Millisecond}).Send(context.Background(), success)
	if err == nil || time.Since(start) > 2*time.Second || len(w.received()) != 1 {
		t.Errorf("429 with Retry-After 30: err %v, %s, %d attempts", err, time.Since(start), len(w.received()))
	}
}
