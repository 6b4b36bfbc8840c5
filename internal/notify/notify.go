// Package notify sends the Slack message the CodePipeline action posts when a job ends:
// which distributions, paths and invalidation ids, how long it waited, or why it failed.
// The webhook URL comes straight from the action's UserParameters ("SlackWebhookUrl") or,
// better for a secret, from an SSM SecureString parameter ("SlackWebhookParameter").
//
// A notification is a courtesy: callers log its errors and never fail the job for them,
// and every post has a short timeout so a slow webhook cannot eat the invocation. The
// webhook URL is a secret: it never appears in errors or logs.
package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/edgeflush/edgeflush/internal/codepipeline"
)

// Message is what a notification says about a finished job.
type Message struct {
	Pipeline, JobID string
	Succeeded       bool
	Distributions   []string
	Paths           []string
	InvalidationIDs []string
	Waited          time.Duration
	Reason          string // the failure message when !Succeeded
	NotWaited       bool   // succeeded as soon as the invalidations were created (Wait: false)
	// Region, when set, adds a link to the pipeline in the AWS console.
	Region string
}

// DefaultTimeout bounds one post (all attempts included) when Slack.Timeout is zero.
const DefaultTimeout = 5 * time.Second

// Slack posts messages to one incoming webhook.
type Slack struct {
	// WebhookURL is https://hooks.slack.com/services/... (plain http only for loopback
	// test servers). It is a secret.
	WebhookURL string
	// Client is the HTTP client; nil means a client with Timeout.
	Client *http.Client
	// Timeout bounds the whole post, retries included; zero means DefaultTimeout.
	Timeout time.Duration
	// RetryDelay is the pause before the one retry after a 429/5xx answer or a network
	// error; zero means 500 ms. A Retry-After header is honoured when it fits the timeout.
	RetryDelay time.Duration
}

// WebhookError is an unsuccessful answer from Slack (its body is a short code such as
// "invalid_token", "no_service" or "channel_is_archived").
type WebhookError struct {
	Status int
	Body   string
}

func (e *WebhookError) Error() string {
	return fmt.Sprintf("Slack webhook answered HTTP %d: %s", e.Status, e.Body)
}

// Send posts m. It makes at most two attempts within the timeout and returns nil only
// when Slack accepted the message.
func (s *Slack) Send(ctx context.Context, m Message) error {
	if err := codepipeline.CheckWebhookURL(s.WebhookURL); err != nil {
		return err
	}
	body, err := json.Marshal(Payload(m))
	if err != nil {
		return fmt.Errorf("encode Slack message: %w", err)
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := s.Client
	if client == nil {
		client = &http.Client{Timeout: timeout}
	}
	delay := s.RetryDelay
	if delay <= 0 {
		delay = 500 * time.Millisecond
	}
	var last error
	for attempt := 1; attempt <= 2; attempt++ {
		retryAfter, err := s.post(ctx, client, body)
		if err == nil {
			return nil
		}
		last = err
		var we *WebhookError
		if errors.As(err, &we) && we.Status != http.StatusTooManyRequests && we.Status < 500 {
			return err // a configuration problem: retrying cannot help
		}
		if retryAfter > 0 {
			delay = retryAfter
		}
		if dl, ok := ctx.Deadline(); attempt == 2 || (ok && time.Until(dl) < delay) {
			break
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return last
		case <-t.C:
		}
	}
	return last
}

// post makes one attempt; retryAfter is Slack's Retry-After when it sent one.
func (s *Slack) post(ctx context.Context, client *http.Client, body []byte) (retryAfter time.Duration, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSpace(s.WebhookURL), bytes.NewReader(body))
	if err != nil {
		return 0, errors.New("build the Slack request: bad webhook URL")
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	resp, err := client.Do(req)
	if err != nil {
		// *url.Error repeats the URL, which is a secret: keep only the cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, fmt.Errorf("post to the Slack webhook: %w", err)
	}
	defer resp.Body.Close()
	text, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 == 2 {
		return 0, nil
	}
	if v, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && v > 0 {
		retryAfter = time.Duration(v) * time.Second
	}
	return retryAfter, &WebhookError{Status: resp.StatusCode, Body: strings.TrimSpace(string(text))}
}
