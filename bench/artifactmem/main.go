// Command artifactmem measures the peak memory of the Lambda action's deploy mode: it
// writes an artifact zip of -files small files and -big files of -bigmb MiB each
// (streamed to disk), stores it in moto, and runs the action's Deployer in this process
// against moto, as the function does; then it prints the process's peak RSS (VmHWM)
// and the wall time of the deploy. moto runs in its own process and is not counted.
//
// Run: go run ./bench/artifactmem [-files 2000] [-big 16] [-bigmb 20] [-budget 0]
package main

import (
	"archive/zip"
	"bufio"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/edgeflush/edgeflush/internal/artifactdeploy"
	"github.com/edgeflush/edgeflush/internal/awsconf"
	"github.com/edgeflush/edgeflush/internal/codepipeline"
	"github.com/edgeflush/edgeflush/internal/testkit"
)

func main() {
	files := flag.Int("files", 2000, "small files (2 KiB each)")
	big := flag.Int("big", 16, "big files")
	bigMB := flag.Int("bigmb", 20, "size of each big file in MiB")
	budget := flag.Int64("budget", 0, "sitesync MaxBytesInFlight in bytes (0: the default; 1e12: no bound, as before issue 10)")
	flag.Parse()
	if err := run(*files, *big, *bigMB, *budget); err != nil {
		fmt.Fprintln(os.Stderr, "bench/artifactmem:", err)
		os.Exit(1)
	}
}

func run(files, big, bigMB int, budget int64) error {
	ctx := context.Background()
	m, err := testkit.NewMoto()
	if err != nil {
		return err
	}
	defer m.Close()
	cfg, err := testkit.SDKConfig(ctx, m.URL)
	if err != nil {
		return err
	}
	client := awsconf.NewS3(cfg)
	for _, b := range []string{"artifacts", "site"} {
		if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			return err
		}
	}
	dir, err := os.MkdirTemp("", "artifactmem-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	zipPath := filepath.Join(dir, "artifact.zip")
	if err := writeZip(zipPath, files, big, bigMB); err != nil {
		return err
	}
	f, err := os.Open(zipPath)
	if err != nil {
		return err
	}
	st, _ := f.Stat()
	_, err = client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("artifacts"), Key: aws.String("a.zip"), Body: f, ContentLength: aws.Int64(st.Size())})
	f.Close()
	if err != nil {
		return fmt.Errorf("store the artifact: %w", err)
	}
	d := &artifactdeploy.Deployer{Config: cfg, TempDir: dir, MaxBytesInFlight: budget, Logger: slog.New(slog.DiscardHandler)}
	p, err := codepipeline.ParseParams(`{"DistributionId": "EARTIFACTMEM1", "Bucket": "site", "Wait": false}`)
	if err != nil {
		return err
	}
	t0 := time.Now()
	res, err := d.Deploy(ctx, codepipeline.DeployRequest{JobID: "artifactmem", Params: p,
		Artifact: codepipeline.ArtifactLocation{Bucket: "artifacts", Key: "a.zip"}, ArtifactCredentials: aws.Credentials{AccessKeyID: testkit.AccessKeyID, SecretAccessKey: testkit.SecretAccessKey}})
	wall := time.Since(t0)
	if err != nil {
		return err
	}
	fmt.Printf("files %d small + %d x %d MiB, budget %s: uploaded %d in %.1f s, peak RSS %s\n",
		files, big, bigMB, budgetName(budget), res.Uploaded, wall.Seconds(), peakRSS())
	return nil
}

func budgetName(b int64) string {
	switch {
	case b == 0:
		return "default (64 MiB)"
	case b >= 1e12:
		return "none"
	}
	return fmt.Sprintf("%d MiB", b>>20)
}

// writeZip streams the artifact to path: small text files and big files of repeated
// text (compressible: the zip stays small, the uploads carry the full size).
func writeZip(path string, files, big, bigMB int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	bw := bufio.NewWriter(f)
	zw := zip.NewWriter(bw)
	for i := range files {
		w, err := zw.Create(fmt.Sprintf("pages/p%05d/index.html", i))
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "<html><p>%d</p>%s</html>", i, strings.Repeat("x", 2048)); err != nil {
			return err
		}
	}
	chunk := []byte(strings.Repeat("0123456789abcdef", 1<<16)) // 1 MiB
	for i := range big {
		w, err := zw.Create(fmt.Sprintf("media/big%02d.bin", i))
		if err != nil {
			return err
		}
		for range bigMB {
			chunk[0] = byte(i)
			if _, err := w.Write(chunk); err != nil {
				return err
			}
		}
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return bw.Flush()
}

// peakRSS reads VmHWM, the process's peak resident set.
func peakRSS() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}
