package release_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	kvsapi "github.com/aws/aws-sdk-go-v2/service/cloudfrontkeyvaluestore"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	edgefn "github.com/edgeflush/edgeflush/deploy/edge"
	"github.com/edgeflush/edgeflush/internal/awsconf"
	"github.com/edgeflush/edgeflush/internal/release"
	"github.com/edgeflush/edgeflush/internal/siteconfig"
	"github.com/edgeflush/edgeflush/internal/sitesync"
	"github.com/edgeflush/edgeflush/internal/testkit"
	"github.com/edgeflush/edgeflush/internal/testkit/kvs"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func site(v string, extra ...string) fstest.MapFS {
	fs := fstest.MapFS{
		"index.html":      {Data: []byte("<h1>home " + v + "</h1>")},
		"docs/index.html": {Data: []byte("<h1>docs</h1>")},
		"assets/app.css":  {Data: []byte("body{color:" + v + "}")},
		"img/logo.svg":    {Data: []byte("<svg/>")},
		"img/photo.png":   {Data: []byte("\x89PNG same")},
	}
	for _, e := range extra {
		fs[e] = &fstest.MapFile{Data: []byte(e)}
	}
	return fs
}

// TestReleases deploys three releases through moto and the KeyValueStore stand-in with the
// real SDK clients, lists them, rolls back, trips the delete guard and prunes.
func TestReleases(t *testing.T) {
	ctx := context.Background()
	moto := testkit.StartMoto(t)
	s3c := awsconf.NewS3(moto.Config(t))
	store := kvs.Start(t, kvs.Options{})
	arn, _ := store.CreateStore("site")
	kcfg, err := testkit.SDKConfig(ctx, store.URL)
	if err != nil {
		t.Fatal(err)
	}
	kc := awsconf.NewKeyValueStore(kcfg)
	const bucket = "releases"
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	cfg, err := siteconfig.Parse([]byte("rules:\n  - match: 'assets/**'\n    headers: {Cache-Control: 'public, max-age=31536000, immutable'}\n  - match: '**'\n    headers: {Cache-Control: 'public, max-age=60'}\n"))
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)}
	o := release.Options{Bucket: bucket, Prefix: "site", KvsARN: arn, Config: cfg, Keep: 2, Now: clk.Now}

	// Before any release.
	if rs, err := release.List(ctx, s3c, kc, o); err != nil || len(rs) != 0 {
		t.Fatalf("list before any release: %v %v", rs, err)
	}
	if _, _, _, err := release.Rollback(ctx, s3c, kc, "", o); err == nil {
		t.Fatal("rollback with no releases succeeded")
	}

	o1 := o
	o1.ID = "r1"
	r1, err := release.Deploy(ctx, s3c, kc, site("red", "old.js"), o1)
	if err != nil {
		t.Fatal(err)
	}
	if len(r1.Uploaded) != 6 || len(r1.Copied) != 0 || r1.Previous != "" || r1.Release.Files != 6 {
		t.Fatalf("first release: uploaded %d copied %d previous %q files %d", len(r1.Uploaded), len(r1.Copied), r1.Previous, r1.Release.Files)
	}
	if cur, _ := release.Current(ctx, kc, arn); cur != "r1" {
		t.Fatalf("current %q after r1", cur)
	}

	clk.Add(time.Minute)
	o2 := o
	o2.ID = "r2"
	r2, err := release.Deploy(ctx, s3c, kc, site("blue"), o2)
	if err != nil {
		t.Fatal(err)
	}
	// Changed: the two pages (they carry the release id) and app.css; copied: logo, photo.
	if len(r2.Uploaded) != 3 || len(r2.Copied) != 2 || r2.Previous != "r1" {
		t.Fatalf("second release: uploaded %v copied %v previous %q", r2.Uploaded, r2.Copied, r2.Previous)
	}
	head := func(key string) *s3.HeadObjectOutput {
		t.Helper()
		h, err := s3c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if err != nil {
			t.Fatalf("head %s: %v", key, err)
		}
		return h
	}
	if h := head("site/_releases/r2/img/photo.png"); aws.ToString(h.CacheControl) != "public, max-age=60" || aws.ToString(h.ContentType) != "image/png" {
		t.Errorf("copied object lost its headers: %q %q", aws.ToString(h.CacheControl), aws.ToString(h.ContentType))
	}
	if h := head("site/_releases/r2/index.html"); h.Metadata[edgefn.MetaRelease] != "r2" {
		t.Errorf("r2's page carries release %q", h.Metadata[edgefn.MetaRelease])
	}
	if _, err := s3c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("site/_releases/r2/old.js")}); err == nil {
		t.Error("r2 has old.js, which its tree does not")
	}
	if h := head("site/_releases/r1/index.html"); h.Metadata[edgefn.MetaRelease] != "r1" {
		t.Errorf("r1 was changed by r2: %v", h.Metadata)
	}

	rs, err := release.List(ctx, s3c, kc, o)
	if err != nil || len(rs) != 2 || rs[0].ID != "r1" || rs[1].ID != "r2" || !rs[1].Current || rs[0].Current || rs[1].Copied != 2 || rs[1].Bytes == 0 {
		t.Fatalf("list: %+v %v", rs, err)
	}

	// Rollback without an id goes to the release before the current one.
	back, prev, _, err := release.Rollback(ctx, s3c, kc, "", o)
	if err != nil || back.ID != "r1" || prev != "r2" {
		t.Fatalf("rollback: %+v %q %v", back, prev, err)
	}
	var nf *release.NotFoundError
	if _, _, _, err := release.Rollback(ctx, s3c, kc, "nope", o); !errors.As(err, &nf) {
		t.Fatalf("rollback to an unknown release: %v", err)
	}
	if _, _, _, err := release.Rollback(ctx, s3c, kc, "r2", o); err != nil {
		t.Fatal(err)
	}

	// The delete guard: r3 would drop four files with MaxDeletes 1; nothing is switched.
	o3 := o
	o3.ID, o3.MaxDeletes = "r3", 1
	_, err = release.Deploy(ctx, s3c, kc, fstest.MapFS{"index.html": {Data: []byte("x")}}, o3)
	var guard *sitesync.DeleteGuardError
	if !errors.As(err, &guard) {
		t.Fatalf("deploy dropping 4 files with MaxDeletes 1: %v, want the delete guard", err)
	}
	if cur, _ := release.Current(ctx, kc, arn); cur != "r2" {
		t.Fatalf("current %q after the refused deploy, want r2", cur)
	}

	// Retention: Keep 2. r3 makes r1 the third newest, but r1 was current a minute ago:
	// it stays for the grace period, then goes with the next deploy.
	clk.Add(time.Minute)
	o3.MaxDeletes = 0
	r3, err := release.Deploy(ctx, s3c, kc, site("green"), o3)
	if err != nil {
		t.Fatal(err)
	}
	if len(r3.Pruned) != 0 {
		t.Fatalf("pruned %v within the grace period", r3.Pruned)
	}
	clk.Add(edgefn.Grace() + time.Minute)
	o4 := o
	o4.ID = "r4"
	r4, err := release.Deploy(ctx, s3c, kc, site("green"), o4)
	if err != nil {
		t.Fatal(err)
	}
	if len(r4.Pruned) != 2 || r4.Pruned[0] != "r1" || r4.Pruned[1] != "r2" {
		t.Fatalf("pruned %v, want r1 and r2 (keep 2: r3, r4)", r4.Pruned)
	}
	out, err := s3c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String("site/_releases/r1/")})
	if err != nil || len(out.Contents) != 0 {
		t.Fatalf("r1 still has %d objects (%v)", len(out.Contents), err)
	}
	if len(r4.Uploaded) != 2 || len(r4.Copied) != 3 {
		t.Errorf("an unchanged tree: uploaded %v (want the two pages), copied %d", r4.Uploaded, len(r4.Copied))
	}
}

// racer is the real KeyValueStore client, but another writer switches the store between
// edgeflush reading its ETag and writing.
type racer struct {
	*kvsapi.Client
	arn string
}

func (r racer) DescribeKeyValueStore(ctx context.Context, in *kvsapi.DescribeKeyValueStoreInput, opts ...func(*kvsapi.Options)) (*kvsapi.DescribeKeyValueStoreOutput, error) {
	out, err := r.Client.DescribeKeyValueStore(ctx, in, opts...)
	if err == nil {
		_, err = r.Client.PutKey(ctx, &kvsapi.PutKeyInput{KvsARN: aws.String(r.arn), Key: aws.String(edgefn.CurrentKey), Value: aws.String("someone-else"), IfMatch: out.ETag})
	}
	return out, err
}

// TestSwitchIsConditional: a switch that loses the race to another writer fails with a
// ConflictError and leaves the other writer's release current.
func TestSwitchIsConditional(t *testing.T) {
	ctx := context.Background()
	moto := testkit.StartMoto(t)
	s3c := awsconf.NewS3(moto.Config(t))
	store := kvs.Start(t, kvs.Options{})
	arn, _ := store.CreateStore("race")
	kcfg, err := testkit.SDKConfig(ctx, store.URL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("race")}); err != nil {
		t.Fatal(err)
	}
	kc := awsconf.NewKeyValueStore(kcfg)
	_, err = release.Deploy(ctx, s3c, racer{kc, arn}, site("red"), release.Options{Bucket: "race", KvsARN: arn, ID: "r1"})
	var conflict *release.ConflictError
	if !errors.As(err, &conflict) || conflict.ID != "r1" {
		t.Fatalf("deploy racing another writer: %v, want a ConflictError", err)
	}
	if cur, _ := release.Current(ctx, kc, arn); cur != "someone-else" {
		t.Fatalf("current %q, want the other writer's", cur)
	}
}

// TestPlainDeployLeavesReleasesAlone: a plain sync to the prefix that holds releases neither
// counts them against the delete guard nor deletes them.
func TestPlainDeployLeavesReleasesAlone(t *testing.T) {
	if edgefn.ReleasesDir != sitesync.ReleasesDir {
		t.Fatalf("the function's folder %q and the one sitesync leaves alone %q differ", edgefn.ReleasesDir, sitesync.ReleasesDir)
	}
	ctx := context.Background()
	moto := testkit.StartMoto(t)
	s3c := awsconf.NewS3(moto.Config(t))
	store := kvs.Start(t, kvs.Options{})
	arn, _ := store.CreateStore("mix")
	kcfg, err := testkit.SDKConfig(ctx, store.URL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("mix")}); err != nil {
		t.Fatal(err)
	}
	if _, err := release.Deploy(ctx, s3c, awsconf.NewKeyValueStore(kcfg), site("red"), release.Options{Bucket: "mix", Prefix: "site", KvsARN: arn, ID: "r1"}); err != nil {
		t.Fatal(err)
	}
	res, err := sitesync.Sync(ctx, s3c, site("blue"), sitesync.Options{Bucket: "mix", Prefix: "site", MaxDeletes: sitesync.DenyDeletes})
	if err != nil {
		t.Fatalf("plain deploy beside the releases: %v", err)
	}
	if len(res.Deleted) != 0 || len(res.All) != 5 {
		t.Fatalf("plain deploy: deleted %v, site %v", res.Deleted, res.All)
	}
	if _, err := s3c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("mix"), Key: aws.String("site/_releases/r1/index.html")}); err != nil {
		t.Fatalf("the release is gone: %v", err)
	}
}
