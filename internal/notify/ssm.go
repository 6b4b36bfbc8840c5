package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"

	"github.com/edgeflush/edgeflush/internal/codepipeline"
)

// SSMAPI is the subset of *ssm.Client used here.
type SSMAPI interface {
	GetParameter(ctx context.Context, in *ssm.GetParameterInput, optFns ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
}

// DefaultCacheTTL is how long a resolved webhook URL is reused by a warm function, so a
// busy pipeline does not read SSM on every job while a rotated URL still takes effect
// within minutes.
const DefaultCacheTTL = 5 * time.Minute

// Resolver reads webhook URLs from SSM SecureString parameters (decrypted) and caches
// them for TTL.
type Resolver struct {
	API SSMAPI
	TTL time.Duration    // zero means DefaultCacheTTL; negative disables the cache
	Now func() time.Time // nil means time.Now

	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	value string
	until time.Time
}

// ParameterError is a problem reading the webhook parameter; it names the parameter
// (never its value) and says what to do.
type ParameterError struct {
	Name string
	Err  error
	Hint string
}

func (e *ParameterError) Error() string {
	msg := fmt.Sprintf("read SSM parameter %s: %v", e.Name, e.Err)
	if e.Hint != "" {
		msg += " (" + e.Hint + ")"
	}
	return msg
}

func (e *ParameterError) Unwrap() error { return e.Err }

// WebhookURL returns the decrypted value of parameter name, checked to be a webhook URL.
func (r *Resolver) WebhookURL(ctx context.Context, name string) (string, error) {
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	ttl := r.TTL
	if ttl == 0 {
		ttl = DefaultCacheTTL
	}
	r.mu.Lock()
	if c, ok := r.cache[name]; ok && ttl > 0 && now().Before(c.until) {
		r.mu.Unlock()
		return c.value, nil
	}
	r.mu.Unlock()

	out, err := r.API.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name), WithDecryption: aws.Bool(true)})
	if err != nil {
		return "", parameterError(name, err)
	}
	if out.Parameter == nil || aws.ToString(out.Parameter.Value) == "" {
		return "", &ParameterError{Name: name, Err: errors.New("the parameter has no value")}
	}
	value := strings.TrimSpace(aws.ToString(out.Parameter.Value))
	if err := codepipeline.CheckWebhookURL(value); err != nil {
		return "", &ParameterError{Name: name, Err: err}
	}
	if ttl > 0 {
		r.mu.Lock()
		if r.cache == nil {
			r.cache = map[string]cached{}
		}
		r.cache[name] = cached{value: value, until: now().Add(ttl)}
		r.mu.Unlock()
	}
	return value, nil
}

func parameterError(name string, err error) error {
	var nf *ssmtypes.ParameterNotFound
	var ae smithy.APIError
	switch {
	case errors.As(err, &nf):
		// --cli-input-json rather than --value: AWS CLI v1 downloads a --value that looks
		// like a URL and would store Slack's answer instead of the webhook URL.
		input, _ := json.Marshal(map[string]string{"Name": name, "Type": "SecureString", "Value": "https://hooks.slack.com/services/..."}) // strings only: cannot fail
		return &ParameterError{Name: name, Err: errors.New("not found"),
			Hint: "create it in the function's region: aws ssm put-parameter --cli-input-json '" + string(input) + "'"}
	case errors.As(err, &ae) && (ae.ErrorCode() == "AccessDeniedException" || ae.ErrorCode() == "AccessDenied"):
		return &ParameterError{Name: name, Err: err, Hint: "grant the function's role ssm:GetParameter on the parameter (and kms:Decrypt on its key if it is not aws/ssm)"}
	}
	return &ParameterError{Name: name, Err: err}
}
