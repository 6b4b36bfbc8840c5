package ledger

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// API is the part of *s3.Client the store uses.
type API interface {
	GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// Name is the ledger's object name inside the reserved folder.
const Name = ".edgeflush/ledger.json"

// Key returns the ledger's key for a normalized prefix ("" or "site/").
func Key(prefix string) string { return prefix + Name }

// maxSize bounds a ledger read (a ledger holds keys only; 64 MiB is ~500,000 keys).
const maxSize = 64 << 20

// DefaultAttempts bounds the read-modify-write attempts of Update.
const DefaultAttempts = 10

// Store reads and writes the ledger of the site at Bucket/Prefix.
type Store struct {
	Client API
	Bucket string
	// Prefix is the site's normalized key prefix ("" or "site/").
	Prefix string
	// Attempts bounds Update's retries after a conflicting write (0: DefaultAttempts).
	Attempts int
}

// ConflictError is returned when Update kept losing the race against other writers.
type ConflictError struct {
	Key      string
	Attempts int
	Err      error
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("update s3 ledger %s: still conflicting with other deploys after %d attempts: %v", e.Key, e.Attempts, e.Err)
}

func (e *ConflictError) Unwrap() error { return e.Err }

// Load reads the ledger. A missing ledger is an empty one with etag "".
func (s Store) Load(ctx context.Context) (l *Ledger, etag string, err error) {
	key := Key(s.Prefix)
	out, err := s.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(key)},
		func(o *s3.Options) { o.DisableLogOutputChecksumValidationSkipped = true })
	if isCode(err, "NoSuchKey", "NotFound") {
		return &Ledger{Version: Version}, "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("read the deploy ledger s3://%s/%s: %w", s.Bucket, key, err)
	}
	defer out.Body.Close()
	data, err := io.ReadAll(io.LimitReader(out.Body, maxSize+1))
	if err != nil {
		return nil, "", fmt.Errorf("read the deploy ledger s3://%s/%s: %w", s.Bucket, key, err)
	}
	if len(data) > maxSize {
		return nil, "", fmt.Errorf("the deploy ledger s3://%s/%s is larger than %d MiB: not a ledger edgeflush wrote", s.Bucket, key, maxSize>>20)
	}
	l = &Ledger{}
	if err := json.Unmarshal(data, l); err != nil {
		return nil, "", fmt.Errorf("the deploy ledger s3://%s/%s is not valid JSON (%v): delete it to start afresh (the next deploys then cover only what they change)", s.Bucket, key, err)
	}
	if l.Version > Version {
		return nil, "", fmt.Errorf("the deploy ledger s3://%s/%s has version %d, written by a newer edgeflush: upgrade edgeflush", s.Bucket, key, l.Version)
	}
	l.Version = Version
	return l, aws.ToString(out.ETag), nil
}

// Update applies ops to the ledger and writes it conditionally: If-Match on the ETag it
// read, or If-None-Match: * when there was none. When another deploy wrote in between
// (412 Precondition Failed, or 409 ConditionalRequestConflict for concurrent writes) it
// reads the ledger again and re-applies ops, with a jittered backoff, up to Attempts
// times. It returns the ledger as written.
func (s Store) Update(ctx context.Context, ops ...Op) (*Ledger, error) {
	attempts := s.Attempts
	if attempts <= 0 {
		attempts = DefaultAttempts
	}
	key := Key(s.Prefix)
	var lastErr error
	for attempt := range attempts {
		if attempt > 0 {
			backoff := time.Duration(min(1<<attempt, 64)) * 20 * time.Millisecond
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(backoff/2 + rand.N(backoff/2+1)):
			}
		}
		l, etag, err := s.Load(ctx)
		if err != nil {
			return nil, err
		}
		for _, op := range ops {
			op(l)
		}
		data, err := json.Marshal(l)
		if err != nil {
			return nil, fmt.Errorf("encode the deploy ledger: %w", err)
		}
		in := &s3.PutObjectInput{
			Bucket:        aws.String(s.Bucket),
			Key:           aws.String(key),
			Body:          bytes.NewReader(data),
			ContentLength: aws.Int64(int64(len(data))),
			ContentType:   aws.String("application/json"),
			CacheControl:  aws.String("no-store"),
		}
		if etag == "" {
			in.IfNoneMatch = aws.String("*")
		} else {
			in.IfMatch = aws.String(etag)
		}
		_, err = s.Client.PutObject(ctx, in)
		if err == nil {
			return l, nil
		}
		if !Conflict(err) {
			return nil, fmt.Errorf("write the deploy ledger s3://%s/%s: %w", s.Bucket, key, err)
		}
		lastErr = err
	}
	return nil, &ConflictError{Key: "s3://" + s.Bucket + "/" + key, Attempts: attempts, Err: lastErr}
}

// Conflict reports whether err is S3's answer to a conditional write that lost: 412
// PreconditionFailed (the ETag changed, or the object appeared), 409
// ConditionalRequestConflict (a concurrent conditional write), or 404 NoSuchKey for an
// If-Match on an object deleted meanwhile.
func Conflict(err error) bool {
	if isCode(err, "PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey") {
		return true
	}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		switch re.HTTPStatusCode() {
		case http.StatusPreconditionFailed, http.StatusConflict:
			return true
		}
	}
	return false
}

func isCode(err error, codes ...string) bool {
	var ae smithy.APIError
	if err == nil || !errors.As(err, &ae) {
		return false
	}
	for _, c := range codes {
		if ae.ErrorCode() == c {
			return true
		}
	}
	return false
}
