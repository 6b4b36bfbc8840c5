package invalidation

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
	"github.com/aws/smithy-go"
)

// TestClassifyHTTP sends real SDK requests to a server answering CloudFront's error
// documents, so the classification sees the errors exactly as the SDK builds them.
func TestClassifyHTTP(t *testing.T) {
	tests := []struct {
		status int
		code   string
		want   Kind
	}{
		{404, "NoSuchDistribution", KindConfiguration},
		{400, "InvalidArgument", KindConfiguration},
		{400, "InconsistentQuantities", KindConfiguration},
		{413, "BatchTooLarge", KindConfiguration},
		{403, "AccessDenied", KindPermission},
		{400, "TooManyInvalidationsInProgress", KindInProgressLimit},
		{400, "Throttling", KindTransient},
		{503, "ServiceUnavailable", KindTransient},
		{500, "SomethingNew", KindTransient},
		{403, "SomethingNew", KindPermission},
		{400, "SomethingNew", KindOther},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/xml")
				w.WriteHeader(tt.status)
				fmt.Fprintf(w, `<?xml version="1.0"?><ErrorResponse xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/"><Error><Type>Sender</Type><Code>%s</Code><Message>test</Message></Error><RequestId>r1</RequestId></ErrorResponse>`, tt.code)
			}))
			defer srv.Close()
			_, err := Create(context.Background(), newClient(srv.URL), "E1", []string{"/*"}, "ref")
			if err == nil {
				t.Fatal("no error")
			}
			if got := Classify(err); got != tt.want {
				t.Errorf("Classify(%v) = %v, want %v", err, got, tt.want)
			}
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != tt.code {
				t.Errorf("error %v lost the API error code", err)
			}
		})
	}
}

func TestClassifyOther(t *testing.T) {
	// Nothing listens on port 1: a connection error is transient.
	_, err := Get(context.Background(), newClient("http://127.0.0.1:1"), "E1", "I1")
	if k := Classify(err); k != KindTransient {
		t.Errorf("Classify(connection refused %v) = %v, want transient", err, k)
	}
	if k := Classify(fmt.Errorf("x: %w", context.DeadlineExceeded)); k != KindTransient {
		t.Errorf("deadline = %v, want transient", k)
	}
	if k := Classify(fmt.Errorf("wrapped: %w", &types.TooManyInvalidationsInProgress{})); k != KindInProgressLimit {
		t.Errorf("typed TooManyInvalidationsInProgress = %v", k)
	}
	if k := Classify(fmt.Errorf("x: %w", ValidatePath("nope"))); k != KindConfiguration {
		t.Errorf("path error = %v, want configuration", k)
	}
	if k := Classify(&BatchError{Exact: 3001}); k != KindConfiguration {
		t.Errorf("batch error = %v, want configuration", k)
	}
	if k := Classify(errors.New("plain")); k != KindOther {
		t.Errorf("plain error = %v, want other", k)
	}
	if k := Classify(nil); k != KindOther {
		t.Errorf("nil = %v, want other", k)
	}
}

// fakeAPI answers GetInvalidation from a script of statuses and errors.
type fakeAPI struct {
	mu     sync.Mutex
	script []any // string status or error
	calls  int
}

func (f *fakeAPI) CreateInvalidation(context.Context, *cloudfront.CreateInvalidationInput, ...func(*cloudfront.Options)) (*cloudfront.CreateInvalidationOutput, error) {
	return nil, errors.New("not used")
}

func (f *fakeAPI) GetInvalidation(_ context.Context, in *cloudfront.GetInvalidationInput, _ ...func(*cloudfront.Options)) (*cloudfront.GetInvalidationOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	step := f.script[min(f.calls, len(f.script)-1)]
	f.calls++
	if err, ok := step.(error); ok {
		return nil, err
	}
	return &cloudfront.GetInvalidationOutput{Invalidation: &types.Invalidation{
		Id: in.Id, Status: aws.String(step.(string)), CreateTime: aws.Time(time.Now()),
		InvalidationBatch: &types.InvalidationBatch{CallerReference: aws.String("r"), Paths: &types.Paths{Quantity: aws.Int32(1), Items: []string{"/*"}}},
	}}, nil
}

func TestWaitPollsUntilCompleted(t *testing.T) {
	throttled := &smithy.GenericAPIError{Code: "Throttling", Message: "Rate exceeded"}
	f := &fakeAPI{script: []any{"InProgress", throttled, "InProgress", "Completed"}}
	inv, err := Wait(context.Background(), f, "E1", "I1", time.Millisecond)
	if err != nil || !inv.Completed() || inv.ID != "I1" || inv.Paths[0] != "/*" {
		t.Fatalf("Wait = %+v, %v", inv, err)
	}
	if f.calls != 4 {
		t.Errorf("GetInvalidation called %d times, want 4", f.calls)
	}
}

func TestWaitDeadline(t *testing.T) {
	f := &fakeAPI{script: []any{"InProgress"}}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	inv, err := Wait(ctx, f, "E1", "I1", 5*time.Millisecond)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait error = %v, want deadline exceeded", err)
	}
	if inv.Status != "InProgress" || inv.ID != "I1" {
		t.Errorf("Wait returned %+v, want the last known InProgress state", inv)
	}
	if f.calls < 2 {
		t.Errorf("only %d polls in 50ms at a 5ms interval", f.calls)
	}
}

func TestWaitStopsOnPermanentError(t *testing.T) {
	f := &fakeAPI{script: []any{"InProgress", &types.AccessDenied{Message: aws.String("no")}}}
	_, err := Wait(context.Background(), f, "E1", "I1", time.Millisecond)
	if Classify(err) != KindPermission {
		t.Fatalf("Wait error = %v, want the AccessDenied error", err)
	}
}

func TestCompletedIgnoresCase(t *testing.T) {
	for s, want := range map[string]bool{"Completed": true, "COMPLETED": true, "completed": true, "InProgress": false, "": false} {
		if (Invalidation{Status: s}).Completed() != want {
			t.Errorf("Completed(%q) != %v", s, want)
		}
	}
}

func TestCreateRejectsBadInput(t *testing.T) {
	f := &fakeAPI{}
	for _, tc := range []struct {
		dist  string
		paths []string
		ref   string
	}{{"", []string{"/*"}, "r"}, {"E1", nil, "r"}, {"E1", []string{"/*"}, ""}} {
		if _, err := Create(context.Background(), f, tc.dist, tc.paths, tc.ref); err == nil {
			t.Errorf("Create(%q, %q, %q) succeeded", tc.dist, tc.paths, tc.ref)
		}
	}
}

// TestPollDelaySchedule: often at first (a wait returns within about 5 s of completion
// for the first 10 minutes), backing off for long waits, and never faster than one call
// every 2 s, far below CloudFront's Throttling (a burst of 6-7 quick calls).
func TestPollDelaySchedule(t *testing.T) {
	prev := time.Duration(0)
	calls := 0
	for waited := time.Duration(0); waited < time.Hour; {
		d := PollDelay(waited)
		switch {
		case d < 2*time.Second:
			t.Fatalf("PollDelay(%s) = %s: faster than one call every 2 s", waited, d)
		case waited < 10*time.Minute && d > 5*time.Second:
			t.Fatalf("PollDelay(%s) = %s: a wait of under 10 minutes must return within 5 s of completion", waited, d)
		case d < prev:
			t.Fatalf("PollDelay(%s) = %s shorter than before (%s)", waited, d, prev)
		case d > DefaultPollInterval:
			t.Fatalf("PollDelay(%s) = %s longer than the AWS CLI's 20 s", waited, d)
		}
		prev = d
		waited += d
		calls++
	}
	if PollDelay(2*time.Hour) != DefaultPollInterval {
		t.Errorf("long waits back off to %s, not %s", PollDelay(2*time.Hour), DefaultPollInterval)
	}
	// An hour of waiting costs a few hundred calls, not thousands.
	if calls > 400 {
		t.Errorf("%d calls in an hour", calls)
	}
	t.Logf("%d GetInvalidation calls in an hour of waiting", calls)
}
