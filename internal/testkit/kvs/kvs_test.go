package kvs_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	kvsapi "github.com/aws/aws-sdk-go-v2/service/cloudfrontkeyvaluestore"
	kvstypes "github.com/aws/aws-sdk-go-v2/service/cloudfrontkeyvaluestore/types"

	"github.com/edgeflush/edgeflush/internal/awsconf"
	"github.com/edgeflush/edgeflush/internal/testkit"
	"github.com/edgeflush/edgeflush/internal/testkit/kvs"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// TestThroughTheSDK drives the stand-in with the SDK's SigV4A-signing client, as
// internal/release does.
func TestThroughTheSDK(t *testing.T) {
	ctx := context.Background()
	clk := &clock{now: time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)}
	s := kvs.Start(t, kvs.Options{Delays: []time.Duration{0, 2 * time.Second, 5 * time.Second}, Now: clk.Now})
	arn, _ := s.CreateStore("site")
	cfg, err := testkit.SDKConfig(ctx, s.URL)
	if err != nil {
		t.Fatal(err)
	}
	c := awsconf.NewKeyValueStore(cfg)

	d, err := c.DescribeKeyValueStore(ctx, &kvsapi.DescribeKeyValueStoreInput{KvsARN: aws.String(arn)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(d.ETag) == "" || aws.ToInt32(d.ItemCount) != 0 || aws.ToString(d.KvsARN) != arn {
		t.Fatalf("describe: %+v", d)
	}
	_, err = c.PutKey(ctx, &kvsapi.PutKeyInput{KvsARN: aws.String(arn), Key: aws.String("current"), Value: aws.String("r1"), IfMatch: aws.String("stale")})
	var conflict *kvstypes.ConflictException
	if !errors.As(err, &conflict) {
		t.Fatalf("put with a stale ETag: %v, want ConflictException", err)
	}
	put, err := c.PutKey(ctx, &kvsapi.PutKeyInput{KvsARN: aws.String(arn), Key: aws.String("current"), Value: aws.String("r1"), IfMatch: d.ETag})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(put.ETag) == aws.ToString(d.ETag) || aws.ToInt32(put.ItemCount) != 1 {
		t.Fatalf("put: ETag %q (was %q), items %d", aws.ToString(put.ETag), aws.ToString(d.ETag), aws.ToInt32(put.ItemCount))
	}
	g, err := c.GetKey(ctx, &kvsapi.GetKeyInput{KvsARN: aws.String(arn), Key: aws.String("current")})
	if err != nil || aws.ToString(g.Value) != "r1" {
		t.Fatalf("get: %v %+v", err, g)
	}
	_, err = c.GetKey(ctx, &kvsapi.GetKeyInput{KvsARN: aws.String(arn), Key: aws.String("missing")})
	var nf *kvstypes.ResourceNotFoundException
	if !errors.As(err, &nf) {
		t.Fatalf("get of a missing key: %v, want ResourceNotFoundException", err)
	}
	_, err = c.PutKey(ctx, &kvsapi.PutKeyInput{KvsARN: aws.String(arn), Key: aws.String("big"), Value: aws.String(strings.Repeat("x", kvs.MaxValueBytes+1)), IfMatch: put.ETag})
	var ve *kvstypes.ValidationException
	if !errors.As(err, &ve) {
		t.Fatalf("put of a 1025-byte value: %v, want ValidationException", err)
	}

	// UpdateKeys is all or nothing, and ListKeys pages.
	var puts []kvstypes.PutKeyRequestListItem
	for i := range 60 {
		puts = append(puts, kvstypes.PutKeyRequestListItem{Key: aws.String(fmt.Sprintf("k%02d", i)), Value: aws.String("v")})
	}
	up, err := c.UpdateKeys(ctx, &kvsapi.UpdateKeysInput{KvsARN: aws.String(arn), IfMatch: put.ETag, Puts: puts,
		Deletes: []kvstypes.DeleteKeyRequestListItem{{Key: aws.String("current")}}})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt32(up.ItemCount) != 60 {
		t.Fatalf("after UpdateKeys: %d items, want 60", aws.ToInt32(up.ItemCount))
	}
	n := 0
	p := kvsapi.NewListKeysPaginator(c, &kvsapi.ListKeysInput{KvsARN: aws.String(arn)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n += len(page.Items)
	}
	if n != 60 {
		t.Fatalf("listed %d keys, want 60", n)
	}

	// Propagation: location 0 sees the write at once, 1 after 2s, 2 after 5s.
	v := s.View(arn)
	last, err := c.PutKey(ctx, &kvsapi.PutKeyInput{KvsARN: aws.String(arn), Key: aws.String("current"), Value: aws.String("r2"), IfMatch: up.ETag})
	if err != nil {
		t.Fatal(err)
	}
	_ = last
	see := func(loc int) string { val, _ := v.Get(loc, "current"); return val }
	if see(0) != "r2" || see(1) != "" || see(2) != "" {
		t.Fatalf("at the write: %q %q %q, want r2, none, none", see(0), see(1), see(2))
	}
	clk.Add(2 * time.Second)
	if see(1) != "r2" || see(2) != "" {
		t.Fatalf("2s later: %q %q", see(1), see(2))
	}
	clk.Add(3 * time.Second)
	if see(2) != "r2" {
		t.Fatalf("5s later: location 2 sees %q", see(2))
	}
	if _, err := c.DescribeKeyValueStore(ctx, &kvsapi.DescribeKeyValueStoreInput{KvsARN: aws.String("arn:aws:cloudfront::123456789012:key-value-store/nope")}); !errors.As(err, &nf) {
		t.Fatalf("describe of an unknown store: %v", err)
	}
}
