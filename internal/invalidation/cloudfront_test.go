package invalidation

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
)

// startMoto starts moto_server on a free loopback port for the test and returns its URL.
func startMoto(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		t.Fatalf("moto_server not on PATH (pip install 'moto[server]'): %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		<-done
	})
	url := "http://127.0.0.1:" + strconv.Itoa(port)
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if resp, err := http.Get(url + "/moto-api/"); err == nil {
			resp.Body.Close()
			return url
		}
	}
	t.Fatalf("moto_server at %s did not start", url)
	return ""
}

// newClient returns a real CloudFront client talking to endpoint.
func newClient(endpoint string) *cloudfront.Client {
	return cloudfront.New(cloudfront.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(endpoint),
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		RetryMaxAttempts: 1,
	})
}

// createDistribution creates a minimal S3-origin distribution and returns its id.
func createDistribution(t *testing.T, c *cloudfront.Client) string {
	t.Helper()
	out, err := c.CreateDistribution(context.Background(), &cloudfront.CreateDistributionInput{
		DistributionConfig: &types.DistributionConfig{
			CallerReference: aws.String(fmt.Sprintf("test-%d", time.Now().UnixNano())),
			Comment:         aws.String("edgeflush test"),
			Enabled:         aws.Bool(true),
			Origins: &types.Origins{Quantity: aws.Int32(1), Items: []types.Origin{{
				Id:             aws.String("site"),
				DomainName:     aws.String("site.s3.amazonaws.com"),
				S3OriginConfig: &types.S3OriginConfig{OriginAccessIdentity: aws.String("")},
			}}},
			DefaultCacheBehavior: &types.DefaultCacheBehavior{
				TargetOriginId:       aws.String("site"),
				ViewerProtocolPolicy: types.ViewerProtocolPolicyRedirectToHttps,
				CachePolicyId:        aws.String("658327ea-f89d-4fab-a63d-7e88639e58f6"),
			},
		},
	})
	if err != nil {
		t.Fatalf("create distribution: %v", err)
	}
	return aws.ToString(out.Distribution.Id)
}

func TestCreateGetWaitAgainstMoto(t *testing.T) {
	c := newClient(startMoto(t))
	dist := createDistribution(t, c)
	ctx := context.Background()

	paths, err := PreparePaths([]string{"/index.html", "/les-misérables.webp", "/a b/*"})
	if err != nil {
		t.Fatal(err)
	}
	inv, err := Create(ctx, c, dist, paths, CallerReference("test", dist))
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if inv.ID == "" || inv.DistributionID != dist || inv.Status == "" {
		t.Fatalf("Create returned %+v", inv)
	}
	if strings.Join(inv.Paths, " ") != strings.Join(paths, " ") {
		t.Errorf("paths = %q, want %q", inv.Paths, paths)
	}

	got, err := Get(ctx, c, dist, inv.ID)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if got.ID != inv.ID || !got.Completed() {
		// moto answers "COMPLETED" at once; Completed must accept it.
		t.Fatalf("Get = %+v, want completed %s", got, inv.ID)
	}

	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	done, err := Wait(wctx, c, dist, inv.ID, 10*time.Millisecond)
	if err != nil || !done.Completed() {
		t.Fatalf("Wait = %+v, %v", done, err)
	}
}

func TestErrorsAgainstMoto(t *testing.T) {
	c := newClient(startMoto(t))
	ctx := context.Background()

	_, err := Create(ctx, c, "ENOSUCHDIST", []string{"/*"}, CallerReference("x"))
	if err == nil {
		t.Fatal("Create on an unknown distribution succeeded")
	}
	var nsd *types.NoSuchDistribution
	if !errors.As(err, &nsd) {
		t.Errorf("error %v does not unwrap to *types.NoSuchDistribution", err)
	}
	if k := Classify(err); k != KindConfiguration {
		t.Errorf("Classify(%v) = %v, want configuration", err, k)
	}
	if !strings.Contains(err.Error(), "ENOSUCHDIST") {
		t.Errorf("error %q does not name the distribution", err)
	}

	dist := createDistribution(t, c)
	_, err = Get(ctx, c, dist, "INOSUCH")
	if err == nil {
		t.Fatal("Get of an unknown invalidation succeeded")
	}
	if k := Classify(err); k != KindConfiguration {
		t.Errorf("Classify(%v) = %v, want configuration", err, k)
	}
	// Wait stops at once on a non-transient error instead of polling until the deadline.
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	start := time.Now()
	if _, err := Wait(wctx, c, dist, "INOSUCH", time.Second); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait on an unknown invalidation = %v, want the NoSuchInvalidation error", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Errorf("Wait kept polling after a configuration error")
	}
}
