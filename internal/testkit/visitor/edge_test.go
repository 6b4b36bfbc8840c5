package visitor_test

import (
	"bytes"
	"context"
	"fmt"
	"mime"
	"path"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/edgeflush/edgeflush/internal/testkit"
	"github.com/edgeflush/edgeflush/internal/testkit/edge"
	"github.com/edgeflush/edgeflush/internal/testkit/visitor"
)

// site is version v of a small site: two pages (a changes in v2, b does not), a renamed
// bundle, a lazy chunk deleted in v2 and a plain-named image that changes in v2.
func site(v int) map[string][]byte {
	page := func(name string, pv int) []byte {
		return fmt.Appendf(nil, `<!doctype html><html><head>%s<title>%s</title>
<link rel="stylesheet" href="/assets/app-%d.css"></head>
<body><img src="/img/logo.svg"><div data-lazy="/assets/chunk-%d.js"></div></body></html>`, visitor.HTMLMarker(pv), name, v, v)
	}
	b := 1 // b.html's text does not change, but it names v's bundles: so it changes with them
	if v > 1 {
		b = v
	}
	return map[string][]byte{
		"index.html":                         page("home", v),
		"b.html":                             page("b", b),
		fmt.Sprintf("assets/app-%d.css", v):  fmt.Appendf(nil, "/* %s */ h1 { background: url(../img/bg.svg) }", visitor.TextMarker(v)),
		fmt.Sprintf("assets/chunk-%d.js", v): fmt.Appendf(nil, "// %s", visitor.TextMarker(v)),
		"img/logo.svg":                       fmt.Appendf(nil, "<svg><!-- %s --></svg>", visitor.TextMarker(v)),
		"img/bg.svg":                         fmt.Appendf(nil, "<svg><!-- %s --></svg>", visitor.TextMarker(1)),
	}
}

// TestThroughTheEdgeEmulator deploys v1 then v2 the way `aws s3 sync --delete` + `/*`
// does (no Cache-Control, so the edge keeps copies for the default day), through moto, the
// CloudFront realism proxy and the edge emulator, with visitors and a probe running. It
// checks what the invalidation promises: once it is Completed nothing is stale and every
// location serves v2, while a reader whose page stayed open across the deploy loses its
// deleted lazy chunk.
func TestThroughTheEdgeEmulator(t *testing.T) {
	ctx := context.Background()
	moto := testkit.StartMoto(t)
	const completeAfter = 1500 * time.Millisecond
	// Readers keep a page open longer than the whole deploy takes, so that some page a
	// reader opened before its location dropped v1 asks for the v1 chunk after success.
	const lazyDelay = 4 * time.Second
	cf := testkit.StartCloudFront(t, moto.URL, testkit.CloudFrontOptions{CompleteAfter: completeAfter})
	dist := testkit.CreateDistribution(t, cf.URL)
	s3c := s3.NewFromConfig(moto.Config(t), func(o *s3.Options) { o.UsePathStyle = true })
	cfCfg, err := testkit.SDKConfig(ctx, cf.URL)
	if err != nil {
		t.Fatal(err)
	}
	cfc := cloudfront.NewFromConfig(cfCfg)
	const bucket = "visitor-site"
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	e := edge.Start(t, edge.Options{S3Endpoint: moto.URL, Bucket: bucket, DistributionID: dist, Invalidations: cf.EdgeInvalidations, Locations: 3})

	put := func(files map[string][]byte) {
		for k, body := range files {
			if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(k), Body: bytes.NewReader(body),
				ContentType: aws.String(mime.TypeByExtension(path.Ext(k)))}); err != nil {
				t.Fatal(err)
			}
		}
	}
	v1, v2 := site(1), site(2)
	tl := []visitor.Deploy{{Version: 1, Started: time.Now(), Files: visitor.SiteFiles(v1)}}
	put(v1)
	tl[0].Succeeded = time.Now()

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	type result struct {
		loads []visitor.Load
		err   error
	}
	visitors := make(chan result, 1)
	go func() {
		l, err := visitor.Run(runCtx, visitor.Options{
			BaseURL: e.URL, Pages: []string{"/", "/b.html"}, Visitors: 8, Readers: 6,
			LazyDelay: lazyDelay, Think: 50 * time.Millisecond, Until: time.Now().Add(30 * time.Second),
		})
		visitors <- result{l, err}
	}()
	time.Sleep(time.Second) // visitors fill the caches with v1

	// Deploy v2: upload everything, delete what v2 no longer has, invalidate /* and wait.
	tl = append(tl, visitor.Deploy{Version: 2, Started: time.Now(), Files: visitor.SiteFiles(v2)})
	probeCtx, stopProbe := context.WithCancel(ctx)
	defer stopProbe()
	probed := make(chan []visitor.Observation, 1)
	go func() {
		obs, err := visitor.Probe{BaseURL: e.URL, Locations: e.Locations(), Paths: []string{"/", "/img/logo.svg"}, Interval: 100 * time.Millisecond}.Run(probeCtx)
		if err != nil {
			t.Error(err)
		}
		probed <- obs
	}()
	put(v2)
	for k := range v1 {
		if _, ok := v2[k]; !ok {
			if _, err := s3c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(k)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	inv, err := cfc.CreateInvalidation(ctx, &cloudfront.CreateInvalidationInput{DistributionId: aws.String(dist), InvalidationBatch: &cftypes.InvalidationBatch{
		CallerReference: aws.String(fmt.Sprint(time.Now().UnixNano())), Paths: &cftypes.Paths{Quantity: aws.Int32(1), Items: []string{"/*"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	w := cloudfront.NewInvalidationCompletedWaiter(cfc, func(o *cloudfront.InvalidationCompletedWaiterOptions) {
		o.MinDelay, o.MaxDelay = 200*time.Millisecond, 200*time.Millisecond
	})
	if err := w.Wait(ctx, &cloudfront.GetInvalidationInput{DistributionId: aws.String(dist), Id: inv.Invalidation.Id}, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	tl[1].Succeeded = time.Now()
	time.Sleep(lazyDelay + 500*time.Millisecond) // readers that opened a v1 page load its chunk
	stop()
	stopProbe()
	res := <-visitors
	if res.err != nil {
		t.Fatal(res.err)
	}
	obs := <-probed

	sum := visitor.Summarize(visitor.Judge(res.loads, tl), len(tl))[1]
	t.Logf("v2 during: %+v", sum.During)
	t.Logf("v2 after:  %+v", sum.After)
	if sum.After.Stale != 0 || sum.After.Mixed != 0 {
		t.Errorf("after the /* invalidation completed: %d stale, %d mixed loads, want none", sum.After.Stale, sum.After.Mixed)
	}
	if sum.After.Pages == 0 || sum.During.Pages == 0 {
		t.Errorf("no page views during (%d) or after (%d) the deploy", sum.During.Pages, sum.After.Pages)
	}
	if sum.After.BrokenLazy == 0 {
		t.Error("no reader lost its deleted lazy chunk after the invalidation, want some (readers keep pages open longer than the deploy takes)")
	}
	locs := map[string]bool{}
	for _, l := range res.loads {
		locs[l.Location] = true
	}
	if len(locs) < 2 {
		t.Errorf("visitors met locations %v, want them spread over several", locs)
	}
	after, ok, err := visitor.Converged(obs, tl[1], e.Locations())
	if err != nil || !ok {
		t.Fatalf("probe: not converged (%v %v)", ok, err)
	}
	// Every location drops its copies by CompleteAt, before the waiter sees Completed; the
	// probe's next question (every 100ms) then gets v2. 2s of slack for a busy machine.
	if limit := tl[1].Succeeded.Sub(tl[1].Started) + 2*time.Second; after > limit {
		t.Errorf("every location served v2 %s after the start, later than the invalidation's completion (+2s) %s", after, limit)
	}
}
