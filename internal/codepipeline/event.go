package codepipeline

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"time"
)

// Event is the payload CodePipeline's Invoke/Lambda action sends. It is declared here
// rather than taken from aws-lambda-go because events.CodePipelineJobEvent has no
// encryptionKey and no artifactCredentials.expirationTime.
//
// The event carries temporary credentials: it must never be logged. Its LogValue and
// the credentials' String/LogValue/MarshalJSON keep the secrets out of any log line
// even when someone passes the whole value to a logger by mistake.
type Event struct {
	Job Job `json:"CodePipeline.job"`
}

// LogValue keeps the event out of logs: only the job id is shown.
func (e Event) LogValue() slog.Value {
	return slog.GroupValue(slog.String("job_id", e.Job.ID))
}

// Job is one CodePipeline job: an id to report the result to and the job's data.
type Job struct {
	ID        string  `json:"id"`
	AccountID string  `json:"accountId"`
	Data      JobData `json:"data"`
}

// LogValue keeps the job's data (credentials included) out of logs.
func (j Job) LogValue() slog.Value {
	return slog.GroupValue(slog.String("job_id", j.ID))
}

// JobData is the "data" member of a job.
type JobData struct {
	ActionConfiguration ActionConfiguration `json:"actionConfiguration"`
	InputArtifacts      []Artifact          `json:"inputArtifacts"`
	OutputArtifacts     []Artifact          `json:"outputArtifacts"`
	ArtifactCredentials Credentials         `json:"artifactCredentials"`
	// ContinuationToken is set only on the jobs CodePipeline creates after a
	// PutJobSuccessResult that carried a token.
	ContinuationToken string `json:"continuationToken,omitempty"`
	// EncryptionKey is set only when the artifact store uses a KMS key.
	EncryptionKey *EncryptionKey `json:"encryptionKey,omitempty"`
}

// LogValue keeps the job data (credentials included) out of logs.
func (d JobData) LogValue() slog.Value {
	return slog.GroupValue(slog.Bool("continuation", d.ContinuationToken != ""))
}

// ActionConfiguration holds the action's configuration as typed in the pipeline.
type ActionConfiguration struct {
	Configuration struct {
		FunctionName   string `json:"FunctionName"`
		UserParameters string `json:"UserParameters"`
	} `json:"configuration"`
}

// Artifact is an input or output artifact of the action.
type Artifact struct {
	Name     string `json:"name"`
	Revision string `json:"revision,omitempty"`
	Location struct {
		Type       string `json:"type"`
		S3Location struct {
			BucketName string `json:"bucketName"`
			ObjectKey  string `json:"objectKey"`
		} `json:"s3Location"`
	} `json:"location"`
}

// EncryptionKey names the KMS key of the artifact store.
type EncryptionKey struct {
	ID   string `json:"id"`
	Type string `json:"type"`
}

// Credentials are the temporary credentials CodePipeline hands the action for its
// artifact bucket. Every way of printing them redacts the secrets.
type Credentials struct {
	AccessKeyID     string         `json:"accessKeyId"`
	SecretAccessKey string         `json:"secretAccessKey"`
	SessionToken    string         `json:"sessionToken"`
	Expiration      ExpirationTime `json:"expirationTime"`
}

const redacted = "[REDACTED]"

// String redacts the secrets; the access key id is shown in part, like the AWS console.
func (c Credentials) String() string {
	return fmt.Sprintf("Credentials{AccessKeyID: %s, SecretAccessKey: %s, SessionToken: %s, Expiration: %s}",
		maskKeyID(c.AccessKeyID), redactedIfSet(c.SecretAccessKey), redactedIfSet(c.SessionToken), c.Expiration.Time.UTC().Format(time.RFC3339))
}

// GoString makes %#v as safe as %v.
func (c Credentials) GoString() string { return c.String() }

// LogValue redacts the secrets in slog output.
func (c Credentials) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("access_key_id", maskKeyID(c.AccessKeyID)),
		slog.String("secret_access_key", redactedIfSet(c.SecretAccessKey)),
		slog.String("session_token", redactedIfSet(c.SessionToken)),
	)
}

// MarshalJSON redacts the secrets, so marshalling an event for debugging cannot leak them.
func (c Credentials) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{
		"accessKeyId":     maskKeyID(c.AccessKeyID),
		"secretAccessKey": redactedIfSet(c.SecretAccessKey),
		"sessionToken":    redactedIfSet(c.SessionToken),
	})
}

func redactedIfSet(s string) string {
	if s == "" {
		return ""
	}
	return redacted
}

func maskKeyID(id string) string {
	if len(id) <= 4 {
		return redactedIfSet(id)
	}
	return "****" + id[len(id)-4:]
}

// ExpirationTime is artifactCredentials.expirationTime. CodePipeline sends epoch
// milliseconds; an RFC 3339 string is accepted too, and a missing or null value
// leaves the zero time.
type ExpirationTime struct{ time.Time }

// UnmarshalJSON accepts epoch milliseconds (number or numeric string) or RFC 3339.
func (t *ExpirationTime) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) || len(b) == 0 {
		return nil
	}
	if b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("expirationTime: %w", err)
		}
		if s == "" {
			return nil
		}
		if ms, err := strconv.ParseFloat(s, 64); err == nil {
			t.Time = time.UnixMilli(int64(ms))
			return nil
		}
		parsed, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return fmt.Errorf("expirationTime %q is neither epoch milliseconds nor RFC 3339", s)
		}
		t.Time = parsed
		return nil
	}
	ms, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("expirationTime is neither epoch milliseconds nor RFC 3339")
	}
	t.Time = time.UnixMilli(int64(ms))
	return nil
}

// MarshalJSON writes epoch milliseconds, as CodePipeline does.
func (t ExpirationTime) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	return []byte(strconv.FormatInt(t.UnixMilli(), 10)), nil
}

// errNoJobID is returned to the Lambda runtime when an event carries no job id:
// there is no job to report a failure to.
type noJobIDError struct{ reason string }

func (e *noJobIDError) Error() string {
	return "event has no CodePipeline job id (" + e.reason + "); is the function invoked by a CodePipeline Invoke action?"
}

// ParseEvent decodes a Lambda payload. When the payload is malformed but a job id
// can still be read, it returns the event with that id and a non-nil error, so the
// caller can report the failure to the job; without a job id the error is a
// *noJobIDError and there is nobody to report to.
func ParseEvent(raw []byte) (Event, error) {
	var ev Event
	err := json.Unmarshal(raw, &ev)
	if err == nil {
		if ev.Job.ID == "" {
			return ev, &noJobIDError{reason: `"CodePipeline.job".id is missing or empty`}
		}
		return ev, nil
	}
	// The full decode failed: try to salvage the job id alone.
	var idOnly struct {
		Job struct {
			ID string `json:"id"`
		} `json:"CodePipeline.job"`
	}
	if json.Unmarshal(raw, &idOnly) == nil && idOnly.Job.ID != "" {
		return Event{Job: Job{ID: idOnly.Job.ID}}, fmt.Errorf("decode CodePipeline job event: %w", err)
	}
	// Do not wrap err: json errors may quote parts of the payload (credentials).
	return Event{}, &noJobIDError{reason: "payload is not a CodePipeline job event"}
}
