package ledger

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/edgeflush/edgeflush/internal/awsconf"
	"github.com/edgeflush/edgeflush/internal/testkit"
)

// countingClient counts the conditional writes S3 refused.
type countingClient struct {
	*s3.Client
	conflicts atomic.Int64
}

func (c *countingClient) PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	out, err := c.Client.PutObject(ctx, in, opts...)
	if Conflict(err) {
		c.conflicts.Add(1)
	}
	return out, err
}

func newStore(t *testing.T) (Store, *countingClient) {
	t.Helper()
	m := testkit.StartMoto(t)
	client := &countingClient{Client: awsconf.NewS3(m.Config(t))}
	if _, err := client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String("ledger-site")}); err != nil {
		t.Fatal(err)
	}
	return Store{Client: client, Bucket: "ledger-site", Prefix: "www/"}, client
}

// S3 (and moto 5.2.1, checked against it) refuses a write whose If-Match ETag is stale
// or whose If-None-Match: * finds the object: the store reads again and re-applies.
func TestUpdateRetriesOnStaleETag(t *testing.T) {
	ctx := context.Background()
	s, client := newStore(t)
	if _, err := s.Update(ctx, AddGroup(Group{ID: "a", Keys: []string{"www/a.html"}}, nil)); err != nil {
		t.Fatal(err)
	}
	// A writer that read the ledger before "b" was added writes with a stale ETag.
	_, etag, err := s.Load(ctx)
	if err != nil || etag == "" {
		t.Fatalf("load: %q %v", etag, err)
	}
	if _, err := s.Update(ctx, AddGroup(Group{ID: "b", Keys: []string{"www/b.css"}}, nil)); err != nil {
		t.Fatal(err)
	}
	_, err = client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(Key(s.Prefix)), IfMatch: aws.String(etag), Body: nil})
	if !Conflict(err) {
		t.Fatalf("write with a stale ETag: %v, want 412", err)
	}
	_, err = client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(Key(s.Prefix)), IfNoneMatch: aws.String("*"), Body: nil})
	if !Conflict(err) {
		t.Fatalf("create over an existing ledger: %v, want 412", err)
	}
	l, _, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := l.Group("a"); !ok {
		t.Error("group a lost")
	}
	if _, ok := l.Group("b"); !ok {
		t.Error("group b lost")
	}
}

// Two deploys of the same site at once never lose each other's entries.
func TestConcurrentUpdatesLoseNothing(t *testing.T) {
	ctx := context.Background()
	s, client := newStore(t)
	s.Attempts = 50
	const writers = 8
	var wg sync.WaitGroup
	errs := make(chan error, writers*2)
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("run-%d", i)
			if _, err := s.Update(ctx, AddGroup(Group{ID: id, Keys: []string{"www/" + id + ".html"}, Targets: []Target{{Distribution: "E1"}}}, nil)); err != nil {
				errs <- err
				return
			}
			if _, err := s.Update(ctx, SetInvalidation(id, "E1", "I"+id, false),
				SetRemovals([]Removal{{Key: "www/old-" + id + ".js", Since: time.Now()}}, nil)); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	l, _, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Groups) != writers || len(l.Removed) != writers {
		t.Fatalf("%d groups and %d removals, want %d each (lost updates)", len(l.Groups), len(l.Removed), writers)
	}
	for _, g := range l.Groups {
		if g.Targets[0].Invalidation != "I"+g.ID {
			t.Errorf("group %s lost its invalidation id: %+v", g.ID, g.Targets)
		}
	}
	t.Logf("%d conflicting writes refused and retried", client.conflicts.Load())
	if client.conflicts.Load() == 0 {
		t.Log("no write conflicted this time (the writers did not overlap)")
	}
}

func TestLoadRejectsForeignLedger(t *testing.T) {
	ctx := context.Background()
	s, client := newStore(t)
	for body, want := range map[string]string{"not json": "not valid JSON", `{"version": 99}`: "newer edgeflush"} {
		if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(Key(s.Prefix)), Body: stringsReader(body)}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Load(ctx); err == nil || !contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", body, err, want)
		}
	}
}
