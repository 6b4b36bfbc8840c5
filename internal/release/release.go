// Package release deploys a static site as releases: every release is complete under its
// own prefix (<prefix>_releases/<id>/), built by copying the unchanged objects of the
// current release server-side (CopyObject) and uploading the changed ones with the headers
// of .edgeflush.yaml (internal/sitesync does the uploading); one conditional KeyValueStore
// write (the key "current") then makes it current, and the CloudFront Function of
// deploy/edge routes every request to it. No invalidation is needed: the release id is part
// of the URI, and so of the cache key. Rollback is the same single write. The releases are
// listed in <prefix>.edgeflush/releases.json; releases beyond the newest Keep are deleted
// once they have been out of service for the grace period (the function's cookie lifetime).
//
// See docs/releases.md for the design, the limits it works within and what it cannot do.
package release

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	kvsapi "github.com/aws/aws-sdk-go-v2/service/cloudfrontkeyvaluestore"
	kvstypes "github.com/aws/aws-sdk-go-v2/service/cloudfrontkeyvaluestore/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/sync/errgroup"

	edgefn "github.com/edgeflush/edgeflush/deploy/edge"
	"github.com/edgeflush/edgeflush/internal/siteconfig"
	"github.com/edgeflush/edgeflush/internal/sitesync"
)

// DefaultKeep is how many releases are kept (the current one always is).
const DefaultKeep = 5

// S3API is the subset of *s3.Client releases use.
type S3API interface {
	sitesync.S3API
	CopyObject(context.Context, *s3.CopyObjectInput, ...func(*s3.Options)) (*s3.CopyObjectOutput, error)
}

// KVSAPI is the subset of the KeyValueStore client releases use.
type KVSAPI interface {
	DescribeKeyValueStore(context.Context, *kvsapi.DescribeKeyValueStoreInput, ...func(*kvsapi.Options)) (*kvsapi.DescribeKeyValueStoreOutput, error)
	GetKey(context.Context, *kvsapi.GetKeyInput, ...func(*kvsapi.Options)) (*kvsapi.GetKeyOutput, error)
	PutKey(context.Context, *kvsapi.PutKeyInput, ...func(*kvsapi.Options)) (*kvsapi.PutKeyOutput, error)
}

// Options configure every operation of the package.
type Options struct {
	Bucket string
	// Prefix is the site's prefix (the distribution's origin path); releases live under
	// <Prefix>_releases/.
	Prefix string
	// KvsARN is the KeyValueStore the function reads.
	KvsARN string
	// Config, Exclude, MaxDeletes, MaxDeletesName, Concurrency, Progress and Logger are
	// passed to sitesync as for a plain deploy. The delete guard counts the files the new
	// release no longer has compared with the current one.
	Config         *siteconfig.Config
	Exclude        []string
	MaxDeletes     int
	MaxDeletesName string
	Concurrency    int
	Progress       io.Writer
	Logger         *slog.Logger
	// Keep is how many releases to keep, newest first (0: DefaultKeep); older ones are
	// deleted once out of service for Grace.
	Keep int
	// Grace is how long a release that stopped being current stays (0: the function's
	// cookie lifetime, edgefn.Grace()).
	Grace time.Duration
	// Now is the clock (default time.Now); ID overrides the generated release id.
	Now func() time.Time
	ID  string
}

func (o *Options) normalize() error {
	if o.Bucket == "" {
		return errors.New("no bucket given")
	}
	if o.KvsARN == "" {
		return errors.New("no KeyValueStore given: run `edgeflush setup --release` and pass its ARN (--kvs-arn, kvs_arn in .edgeflush.yaml)")
	}
	o.Prefix = sitesync.NormalizePrefix(o.Prefix)
	if o.Keep == 0 {
		o.Keep = DefaultKeep
	}
	if o.Keep < 1 {
		return fmt.Errorf("keep %d: keep at least 1 release (the current one)", o.Keep)
	}
	if o.Grace == 0 {
		o.Grace = edgefn.Grace()
	}
	if o.Grace < edgefn.Grace() {
		return fmt.Errorf("grace %s is shorter than the function's cookie lifetime %s: pages open that long still load their release's assets", o.Grace, edgefn.Grace())
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.ID != "" && !edgefn.ValidID(o.ID) {
		return fmt.Errorf("release id %q: use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit", o.ID)
	}
	return nil
}

// Release is one entry of the index.
type Release struct {
	ID      string    `json:"id"`
	Created time.Time `json:"created"`
	Files   int       `json:"files"`
	Bytes   int64     `json:"bytes"`
	// Uploaded and Copied say how the release was built.
	Uploaded int `json:"uploaded"`
	Copied   int `json:"copied"`
	// Base is the release the unchanged objects were copied from.
	Base string `json:"base,omitempty"`
	// Switched lists the moments edgeflush made it current (deploy, rollbacks); Retired
	// the last moment another release replaced it.
	Switched []time.Time `json:"switched,omitempty"`
	Retired  time.Time   `json:"retired,omitzero"`
	// Current is not stored: the KeyValueStore says which release is current.
	Current bool `json:"-"`
}

type index struct {
	Version  int       `json:"version"`
	Releases []Release `json:"releases"`
}

// IndexKey is where the list of releases is kept.
func IndexKey(prefix string) string {
	return sitesync.NormalizePrefix(prefix) + sitesync.ReservedDir + "releases.json"
}

// Dir is the key prefix of release id.
func Dir(prefix, id string) string {
	return sitesync.NormalizePrefix(prefix) + edgefn.ReleasesDir + id + "/"
}

func readIndex(ctx context.Context, c S3API, o *Options) (index, error) {
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(o.Bucket), Key: aws.String(IndexKey(o.Prefix))})
	if err != nil {
		var nsk *s3types.NoSuchKey
		if errors.As(err, &nsk) {
			return index{Version: 1}, nil
		}
		return index{}, fmt.Errorf("read the release index s3://%s/%s: %w", o.Bucket, IndexKey(o.Prefix), err)
	}
	defer out.Body.Close()
	var ix index
	if err := json.NewDecoder(io.LimitReader(out.Body, 16<<20)).Decode(&ix); err != nil {
		return index{}, fmt.Errorf("the release index s3://%s/%s is damaged (%v): fix or delete it", o.Bucket, IndexKey(o.Prefix), err)
	}
	return ix, nil
}

func writeIndex(ctx context.Context, c S3API, o *Options, ix index) error {
	sort.Slice(ix.Releases, func(i, j int) bool { return ix.Releases[i].Created.Before(ix.Releases[j].Created) })
	b, err := json.MarshalIndent(ix, "", " ")
	if err != nil {
		return err
	}
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(o.Bucket), Key: aws.String(IndexKey(o.Prefix)),
		Body: strings.NewReader(string(b)), ContentType: aws.String("application/json"), CacheControl: aws.String("no-store")})
	if err != nil {
		return fmt.Errorf("write the release index s3://%s/%s: %w", o.Bucket, IndexKey(o.Prefix), err)
	}
	return nil
}

func (ix *index) find(id string) *Release {
	for i := range ix.Releases {
		if ix.Releases[i].ID == id {
			return &ix.Releases[i]
		}
	}
	return nil
}

// Current returns the current release id ("" when none was made current yet).
func Current(ctx context.Context, k KVSAPI, kvsARN string) (string, error) {
	out, err := k.GetKey(ctx, &kvsapi.GetKeyInput{KvsARN: aws.String(kvsARN), Key: aws.String(edgefn.CurrentKey)})
	if err != nil {
		var nf *kvstypes.ResourceNotFoundException
		if !errors.As(err, &nf) {
			return "", fmt.Errorf("read the current release from %s: %w", kvsARN, err)
		}
		// The key, or the store itself, is missing: only the first means "none yet".
		if _, derr := k.DescribeKeyValueStore(ctx, &kvsapi.DescribeKeyValueStoreInput{KvsARN: aws.String(kvsARN)}); derr != nil {
			return "", fmt.Errorf("KeyValueStore %s: %w", kvsARN, derr)
		}
		return "", nil
	}
	return aws.ToString(out.Value), nil
}

// ConflictError is returned when the KeyValueStore changed between reading its ETag and
// writing: another deploy or rollback switched at the same moment. Nothing was switched.
type ConflictError struct {
	ID  string
	Err error
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("release %s was not made current: the KeyValueStore changed meanwhile (another deploy or rollback?); run `edgeflush releases` and retry: %v", e.ID, e.Err)
}

func (e *ConflictError) Unwrap() error { return e.Err }

// switchTo makes id current with one conditional write and returns when it was made.
func switchTo(ctx context.Context, k KVSAPI, o *Options, id string) (time.Time, error) {
	d, err := k.DescribeKeyValueStore(ctx, &kvsapi.DescribeKeyValueStoreInput{KvsARN: aws.String(o.KvsARN)})
	if err != nil {
		return time.Time{}, fmt.Errorf("describe KeyValueStore %s: %w", o.KvsARN, err)
	}
	_, err = k.PutKey(ctx, &kvsapi.PutKeyInput{KvsARN: aws.String(o.KvsARN), Key: aws.String(edgefn.CurrentKey), Value: aws.String(id), IfMatch: d.ETag})
	if err != nil {
		var ce *kvstypes.ConflictException
		if errors.As(err, &ce) {
			return time.Time{}, &ConflictError{ID: id, Err: err}
		}
		return time.Time{}, fmt.Errorf("make release %s current in %s: %w", id, o.KvsARN, err)
	}
	return o.Now(), nil
}

// Result reports a release deploy.
type Result struct {
	Release  Release
	Previous string // the release that was current before ("" for the first)
	// Uploaded and Copied are full keys; Pruned the releases retention deleted.
	Uploaded, Copied []string
	Pruned           []string
	SwitchedAt       time.Time
	// Writes counts the S3 write requests (uploads, copies, manifest, index, deletes);
	// the KeyValueStore switch is one more call.
	Writes int
}

func newID(now time.Time) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// Deploy builds a new release from src and makes it current.
func Deploy(ctx context.Context, c S3API, k KVSAPI, src fs.FS, o Options) (Result, error) {
	if err := o.normalize(); err != nil {
		return Result{}, err
	}
	ix, err := readIndex(ctx, c, &o)
	if err != nil {
		return Result{}, err
	}
	cur, err := Current(ctx, k, o.KvsARN)
	if err != nil {
		return Result{}, err
	}
	id := o.ID
	if id == "" {
		id = newID(o.Now())
	}
	if ix.find(id) != nil {
		return Result{}, fmt.Errorf("release %s exists already: give another id", id)
	}
	base := ""
	if cur != "" && ix.find(cur) != nil {
		base = cur
	} else if n := len(ix.Releases); n > 0 {
		base = ix.Releases[n-1].ID
	}
	newDir := Dir(o.Prefix, id)
	pages := func(p string) map[string]string {
		if sitesync.IsHTML(p) {
			return map[string]string{edgefn.MetaRelease: id}
		}
		return nil
	}
	syncOpts := sitesync.Options{Bucket: o.Bucket, Config: o.Config, Exclude: o.Exclude, MaxDeletes: o.MaxDeletes,
		MaxDeletesName: o.MaxDeletesName, Concurrency: o.Concurrency, Logger: o.Logger, ExtraMetadata: pages}
	res := Result{Previous: cur}

	// 1. What changed since the base release; the delete guard counts what the new one drops.
	var copies []string // paths in the tree
	if base != "" {
		bo := syncOpts
		bo.Prefix = Dir(o.Prefix, base)
		plan, err := sitesync.Diff(ctx, c, src, bo)
		if err != nil {
			return res, fmt.Errorf("compare with release %s: %w", base, err)
		}
		if err := plan.CheckDeletes(); err != nil {
			return res, err
		}
		for _, key := range plan.Unchanged {
			copies = append(copies, strings.TrimPrefix(key, bo.Prefix))
		}
	}
	// 2. Copy the unchanged objects server-side (pages never are: each carries its release id).
	g, gctx := errgroup.WithContext(ctx)
	limit := o.Concurrency
	if limit <= 0 {
		limit = sitesync.DefaultConcurrency
	}
	g.SetLimit(limit)
	copied := make([]string, len(copies))
	for i, p := range copies {
		g.Go(func() error {
			from := Dir(o.Prefix, base) + p
			to := newDir + p
			_, err := c.CopyObject(gctx, &s3.CopyObjectInput{Bucket: aws.String(o.Bucket), Key: aws.String(to),
				CopySource: aws.String(url.PathEscape(o.Bucket) + "/" + escapeKey(from))})
			if err != nil {
				return fmt.Errorf("copy %s to %s: %w", from, to, err)
			}
			copied[i] = to
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return res, err
	}
	res.Copied = copied
	// 3. Upload the rest with today's rules (sitesync: headers, gzip, multipart, manifest).
	so := syncOpts
	so.Prefix = newDir
	so.Progress = o.Progress
	sr, err := sitesync.Sync(ctx, c, src, so)
	if err != nil {
		return res, fmt.Errorf("upload release %s: %w", id, err)
	}
	res.Uploaded = sr.Uploaded
	res.Writes = sr.Writes + len(copied)
	rel := Release{ID: id, Created: o.Now().UTC(), Files: len(sr.All), Uploaded: len(sr.Uploaded), Copied: len(copied), Base: base}
	for _, key := range sr.All {
		if info, err := fs.Stat(src, strings.TrimPrefix(key, newDir)); err == nil {
			rel.Bytes += info.Size()
		}
	}
	// 4. Record it, then switch: a release is listed before it can be current.
	now := o.Now().UTC()
	rel.Switched = []time.Time{now}
	if prev := ix.find(cur); prev != nil {
		prev.Retired = now
	}
	ix.Releases = append(ix.Releases, rel)
	if err := writeIndex(ctx, c, &o, ix); err != nil {
		return res, err
	}
	res.Writes++
	at, err := switchTo(ctx, k, &o, id)
	if err != nil {
		return res, err
	}
	res.SwitchedAt = at
	rel.Current = true
	res.Release = rel
	// 5. Retention.
	pruned, n, err := prune(ctx, c, &o, &ix, id)
	res.Pruned, res.Writes = pruned, res.Writes+n
	if err != nil {
		return res, fmt.Errorf("release %s is current; removing old releases failed: %w", id, err)
	}
	o.Logger.Info("release current", "id", id, "uploaded", len(res.Uploaded), "copied", len(res.Copied), "pruned", len(pruned))
	return res, nil
}

// escapeKey URL-encodes a key for CopySource, keeping the '/' separators.
func escapeKey(key string) string {
	parts := strings.Split(key, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}

// List returns the releases, oldest first, with Current set from the KeyValueStore.
func List(ctx context.Context, c S3API, k KVSAPI, o Options) ([]Release, error) {
	if err := o.normalize(); err != nil {
		return nil, err
	}
	ix, err := readIndex(ctx, c, &o)
	if err != nil {
		return nil, err
	}
	cur, err := Current(ctx, k, o.KvsARN)
	if err != nil {
		return nil, err
	}
	for i := range ix.Releases {
		ix.Releases[i].Current = ix.Releases[i].ID == cur
	}
	return ix.Releases, nil
}

// NotFoundError is returned when a rollback names a release edgeflush does not have.
type NotFoundError struct {
	ID    string
	Known []string
}

func (e *NotFoundError) Error() string {
	if e.ID == "" {
		return "no earlier release to roll back to: `edgeflush releases` lists them"
	}
	return fmt.Sprintf("no release %q (kept: %s): `edgeflush releases` lists them", e.ID, strings.Join(e.Known, ", "))
}

// Rollback makes release id current again (id "": the release before the current one).
// It returns the release made current and the one it replaced.
func Rollback(ctx context.Context, c S3API, k KVSAPI, id string, o Options) (Release, string, time.Time, error) {
	if err := o.normalize(); err != nil {
		return Release{}, "", time.Time{}, err
	}
	ix, err := readIndex(ctx, c, &o)
	if err != nil {
		return Release{}, "", time.Time{}, err
	}
	cur, err := Current(ctx, k, o.KvsARN)
	if err != nil {
		return Release{}, "", time.Time{}, err
	}
	var known []string
	for _, r := range ix.Releases {
		known = append(known, r.ID)
	}
	if id == "" {
		// The newest release created before the current one.
		curRel := ix.find(cur)
		for i := len(ix.Releases) - 1; i >= 0; i-- {
			r := ix.Releases[i]
			if r.ID != cur && (curRel == nil || r.Created.Before(curRel.Created)) {
				id = r.ID
				break
			}
		}
		if id == "" {
			return Release{}, cur, time.Time{}, &NotFoundError{Known: known}
		}
	}
	target := ix.find(id)
	if target == nil {
		return Release{}, cur, time.Time{}, &NotFoundError{ID: id, Known: known}
	}
	if id == cur {
		r := *target
		r.Current = true
		return r, cur, time.Time{}, nil
	}
	// The release must still be complete in the bucket: its pages at least.
	out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(o.Bucket), Prefix: aws.String(Dir(o.Prefix, id)), MaxKeys: aws.Int32(1)})
	if err != nil {
		return Release{}, cur, time.Time{}, fmt.Errorf("check release %s in s3://%s/%s: %w", id, o.Bucket, Dir(o.Prefix, id), err)
	}
	if len(out.Contents) == 0 {
		return Release{}, cur, time.Time{}, fmt.Errorf("release %s is listed but s3://%s/%s is empty: it cannot be made current", id, o.Bucket, Dir(o.Prefix, id))
	}
	now := o.Now().UTC()
	target.Switched = append(target.Switched, now)
	if prev := ix.find(cur); prev != nil {
		prev.Retired = now
	}
	if err := writeIndex(ctx, c, &o, ix); err != nil {
		return Release{}, cur, time.Time{}, err
	}
	at, err := switchTo(ctx, k, &o, id)
	if err != nil {
		return Release{}, cur, time.Time{}, err
	}
	r := *ix.find(id)
	r.Current = true
	return r, cur, at, nil
}

// prune deletes the releases beyond the newest Keep that have been out of service for
// Grace (never the current one, nor one whose retirement time is unknown).
func prune(ctx context.Context, c S3API, o *Options, ix *index, current string) ([]string, int, error) {
	sort.Slice(ix.Releases, func(i, j int) bool { return ix.Releases[i].Created.Before(ix.Releases[j].Created) })
	now := o.Now()
	var pruned []string
	writes := 0
	keep := ix.Releases[:0:0]
	for i, r := range ix.Releases {
		newest := len(ix.Releases)-i <= o.Keep
		inService := r.ID == current || (len(r.Switched) > 0 && r.Retired.IsZero()) || (!r.Retired.IsZero() && now.Sub(r.Retired) < o.Grace)
		if newest || inService {
			keep = append(keep, r)
			continue
		}
		n, err := deletePrefix(ctx, c, o.Bucket, Dir(o.Prefix, r.ID))
		writes += n
		if err != nil {
			return pruned, writes, err
		}
		pruned = append(pruned, r.ID)
	}
	if len(pruned) == 0 {
		return nil, writes, nil
	}
	ix.Releases = keep
	if err := writeIndex(ctx, c, o, *ix); err != nil {
		return pruned, writes, err
	}
	return pruned, writes + 1, nil
}

func deletePrefix(ctx context.Context, c S3API, bucket, prefix string) (int, error) {
	writes := 0
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return writes, fmt.Errorf("list s3://%s/%s: %w", bucket, prefix, err)
		}
		if len(page.Contents) == 0 {
			continue
		}
		var ids []s3types.ObjectIdentifier
		for _, obj := range page.Contents {
			ids = append(ids, s3types.ObjectIdentifier{Key: obj.Key})
		}
		out, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(bucket), Delete: &s3types.Delete{Objects: ids, Quiet: aws.Bool(true)}})
		writes++
		if err != nil {
			return writes, fmt.Errorf("delete s3://%s/%s: %w", bucket, prefix, err)
		}
		if len(out.Errors) > 0 {
			return writes, fmt.Errorf("delete s3://%s/%s: %s: %s", bucket, prefix, aws.ToString(out.Errors[0].Key), aws.ToString(out.Errors[0].Message))
		}
	}
	return writes, nil
}
