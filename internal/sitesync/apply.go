package sitesync

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"
)

// deleteBatch is DeleteObjects' limit.
const deleteBatch = 1000

// Apply performs the plan: non-HTML uploads, HTML uploads, deletes, manifest.
// It refuses a plan that fails CheckDeletes.
func (p *Plan) Apply(ctx context.Context) (res Result, err error) {
	if err := p.CheckDeletes(); err != nil {
		return p.Result(), err
	}
	o := p.o
	t0 := time.Now()
	res = p.Result()
	res.Uploaded, res.Deleted = nil, nil
	var writes atomic.Int64
	defer func() { res.Writes = int(writes.Load()) }()

	changes := len(p.Uploads) + len(p.Deletes)

	prog := newProgress(o.Progress, changes, o.VerboseProgress)
	defer prog.finish()
	up := &uploader{client: p.client, src: p.src, o: o, inFlight: semaphore.NewWeighted(o.MaxBytesInFlight),
		mgr: manager.NewUploader(p.client, func(u *manager.Uploader) {
			u.PartSize = o.PartSize
			// Parts of one file in parallel; files are already parallel, so keep it small
			// to bound the part buffers of sources without io.ReaderAt (zip entries).
			u.Concurrency = 2
		})}

	var mu sync.Mutex
	split := 0
	for split < len(p.Uploads) && !IsHTML(p.Uploads[split].Key) {
		split++
	}
	started := 0
	for _, phase := range [][]Upload{p.Uploads[:split], p.Uploads[split:]} {
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(o.Concurrency)
		for i := range phase {
			if !o.StopAt.IsZero() && started > 0 && time.Now().After(o.StopAt) {
				res.Remaining = len(p.Uploads) - started
				break
			}
			started++
			u := &phase[i] // each goroutine sets the etag of its own upload only
			g.Go(recovered(func() error {
				etag, err := up.upload(gctx, *u)
				if err != nil {
					return err
				}
				writes.Add(1)
				u.etag = parseETag(etag)
				mu.Lock()
				res.Uploaded = append(res.Uploaded, u.Key)
				mu.Unlock()
				prog.step("upload", u.Key)
				return nil
			}))
		}
		if err := g.Wait(); err != nil {
			return res, err
		}
		if res.Remaining > 0 {
			break
		}
	}
	if res.Remaining > 0 {
		// Out of time: no page of a later phase and no delete before every upload is
		// made. The manifest records what was uploaded, so the next slice skips it.
		res.Uploaded = sortedUnion(res.Uploaded)
		if err := p.writeManifest(ctx); err != nil {
			o.Logger.Warn("deploy manifest not written", "err", err)
		} else {
			writes.Add(1)
		}
		o.Logger.Info("stopping the sync for this slice", "uploaded", len(res.Uploaded), "remaining", res.Remaining)
		return res, nil
	}

	n, err := deleteKeys(ctx, p.client, o.Bucket, p.Deletes, func(batch []string) {
		res.Deleted = append(res.Deleted, batch...)
		for _, k := range batch {
			prog.step("delete", k)
		}
	})
	writes.Add(int64(n))
	if err != nil {
		return res, err
	}
	res.Deleted = sortedUnion(res.Deleted)
	res.Uploaded = sortedUnion(res.Uploaded)

	o.Logger.Debug("uploaded and deleted", "uploads", len(res.Uploaded), "deletes", len(res.Deleted), "elapsed", time.Since(t0))
	if changes > 0 || p.manifestDirty {
		if err := p.writeManifest(ctx); err != nil {
			// The sync itself succeeded; a missing manifest only costs HEADs next time.
			o.Logger.Warn("deploy manifest not written", "err", err)
		} else {
			writes.Add(1)
		}
		o.Logger.Debug("wrote manifest", "elapsed", time.Since(t0))
	}
	return res, nil
}

// Delete deletes keys from bucket, pages first (see deleteKeys). It is for objects a
// deploy kept and deletes later, once the invalidation covering them has completed.
func Delete(ctx context.Context, client S3API, bucket string, keys []string) error {
	_, err := deleteKeys(ctx, client, bucket, keys, nil)
	return err
}

// deleteKeys deletes keys, pages first, so that no page left in the bucket, even for a
// moment, refers to an asset already deleted (a DeleteObjects batch is not atomic). It
// returns the number of DeleteObjects requests made; done is called after each batch.
func deleteKeys(ctx context.Context, client S3API, bucket string, keys []string, done func([]string)) (int, error) {
	var pages, others []string
	for _, k := range keys {
		if IsHTML(k) {
			pages = append(pages, k)
		} else {
			others = append(others, k)
		}
	}
	requests := 0
	for _, phase := range [][]string{pages, others} {
		for start := 0; start < len(phase); start += deleteBatch {
			batch := phase[start:min(start+deleteBatch, len(phase))]
			requests++
			if err := deleteBatchOf(ctx, client, bucket, batch); err != nil {
				return requests, err
			}
			if done != nil {
				done(batch)
			}
		}
	}
	return requests, nil
}

func deleteBatchOf(ctx context.Context, client S3API, bucket string, batch []string) error {
	ids := make([]types.ObjectIdentifier, len(batch))
	for i, k := range batch {
		ids[i] = types.ObjectIdentifier{Key: aws.String(k)}
	}
	out, err := client.DeleteObjects(ctx, &s3.DeleteObjectsInput{
		Bucket: aws.String(bucket),
		Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)},
	})
	if err != nil {
		return fmt.Errorf("delete %d objects from s3://%s: %w", len(batch), bucket, err)
	}
	if len(out.Errors) > 0 {
		e := out.Errors[0]
		return fmt.Errorf("delete s3://%s/%s: %s: %s (%d errors in all)", bucket,
			aws.ToString(e.Key), aws.ToString(e.Code), aws.ToString(e.Message), len(out.Errors))
	}
	return nil
}

// writeManifest records the state of every key whose content and headers are known.
// The LastModified of fresh uploads is only known from S3: when they are few, one
// HeadObject each asks for it; when they are many, listing the prefix again is cheaper.
// An entry is written only for an object S3 still shows as the one this run wrote or
// compared: one rewritten by someone else meanwhile is left for the next run to HEAD.
func (p *Plan) writeManifest(ctx context.Context) error {
	if len(p.Uploads) > headLimit(len(p.remote)) {
		for i := range p.remote {
			p.remote[i].current = false
		}
		err := listEach(ctx, p.client, p.o.Bucket, p.o.Prefix, func(key string, e etag, mtime int64, reserved bool) {
			if reserved {
				return
			}
			if i := p.findUpload(key); i >= 0 {
				u := &p.Uploads[i]
				u.mtime, u.current = mtime, u.etag == e
				return
			}
			if i := findRemote(p.remote, p.o.Prefix, key[len(p.o.Prefix):]); i >= 0 {
				ro := &p.remote[i]
				ro.current = ro.ETag == e && ro.LastModified == mtime
			}
		})
		if err != nil {
			return err
		}
	} else {
		for i := range p.remote {
			p.remote[i].current = true // as Diff listed it
		}
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(p.o.Concurrency)
		for i := range p.Uploads {
			u := &p.Uploads[i] // each goroutine sets its own upload only
			g.Go(recovered(func() error {
				out, err := p.client.HeadObject(gctx, &s3.HeadObjectInput{Bucket: aws.String(p.o.Bucket), Key: aws.String(u.Key)})
				if isNotFound(err) {
					return nil
				}
				if err != nil {
					return fmt.Errorf("head s3://%s/%s: %w", p.o.Bucket, u.Key, err)
				}
				if out.LastModified != nil {
					u.mtime = out.LastModified.Unix()
				}
				u.current = parseETag(aws.ToString(out.ETag)) == u.etag
				return nil
			}))
		}
		if err := g.Wait(); err != nil {
			return err
		}
	}
	m := newManifestWriter()
	for _, u := range p.Uploads {
		if u.current {
			m.entry(u.Key, u.etag, u.mtime, u.md5, u.hs.digest)
		}
	}
	for _, ro := range p.remote {
		if ro.unchanged && ro.current {
			m.entry(ro.Key, ro.ETag, ro.LastModified, ro.md5, ro.headers)
		}
	}
	if err := m.put(ctx, p.client, p.o.Bucket, manifestKey(p.o.Prefix)); err != nil {
		return fmt.Errorf("write deploy manifest: %w", err)
	}
	return nil
}

// headLimit is how many fresh uploads are looked up with HeadObject rather than a new
// listing (1,000 keys a page): a HEAD per upload costs less up to about a page's worth.
func headLimit(keys int) int { return max(64, keys/20) }

type uploader struct {
	client S3API
	src    fs.FS
	o      Options
	mgr    *manager.Uploader
	// inFlight holds the bytes the uploads in progress buffer (Options.MaxBytesInFlight).
	inFlight *semaphore.Weighted
}

// partsBuffered is how many parts the transfer manager holds for a source without
// io.ReaderAt: one per part in flight (Concurrency 2) and the one being read.
const partsBuffered = 3

// streamCost is the weight of an upload that buffers nothing of its own (a file read
// in place): its share of the SDK's copy buffers.
const streamCost = 64 << 10

// cost is what the upload of u buffers, known before anything is read, capped by the
// budget so that any single file can go: gzip output up to gzipInMemory is compressed
// in memory (at most the source's size plus gzip's few bytes of overhead); larger gzip
// output goes through a temporary file, which the transfer manager reads at offsets;
// a source over the multipart threshold that cannot be read at an offset (a zip entry)
// has its parts buffered.
func (up *uploader) cost(u Upload) int64 {
	c := int64(streamCost)
	switch {
	case u.Gzip() && u.Size <= gzipInMemory:
		c += u.Size + u.Size/100
	case !u.Gzip() && u.Size > up.o.MultipartThreshold && !up.readsAtOffset(u.Path):
		c = partsBuffered * up.o.PartSize
	}
	return min(c, up.o.MaxBytesInFlight)
}

// readsAtOffset reports whether the source file can be read at an offset (io.ReaderAt:
// an *os.File, not a zip entry).
func (up *uploader) readsAtOffset(path string) bool {
	f, err := up.src.Open(path)
	if err != nil {
		return false // the upload itself reports the error
	}
	defer f.Close()
	_, ok := f.(io.ReaderAt)
	return ok
}

// gzipInMemory is the largest source compressed in memory; bigger ones use a temp file.
const gzipInMemory = 4 << 20

// upload writes one object and returns its ETag (unquoted).
func (up *uploader) upload(ctx context.Context, u Upload) (string, error) {
	w := up.cost(u)
	if err := up.inFlight.Acquire(ctx, w); err != nil {
		return "", err
	}
	defer up.inFlight.Release(w)
	body, size, cleanup, err := up.body(u)
	if err != nil {
		return "", err
	}
	defer cleanup()
	h := u.Headers()
	meta := map[string]string{MD5MetadataKey: u.MD5()}
	for k, v := range h.Metadata {
		meta[k] = v
	}
	in := &s3.PutObjectInput{
		Bucket:        aws.String(up.o.Bucket),
		Key:           aws.String(u.Key),
		Body:          body,
		ContentLength: aws.Int64(size),
		ContentType:   nonEmpty(h.ContentType),
		CacheControl:  nonEmpty(h.CacheControl),
		// Content-Encoding is part of the digest; an empty one is simply not sent.
		ContentEncoding:    nonEmpty(h.ContentEncoding),
		ContentDisposition: nonEmpty(h.ContentDisposition),
		ContentLanguage:    nonEmpty(h.ContentLanguage),
		Metadata:           meta,
	}
	if size > up.o.MultipartThreshold {
		out, err := up.mgr.Upload(ctx, in)
		if err != nil {
			return "", fmt.Errorf("upload %s to s3://%s/%s (multipart): %w", u.Path, up.o.Bucket, u.Key, err)
		}
		return strings.Trim(aws.ToString(out.ETag), `"`), nil
	}
	out, err := up.client.PutObject(ctx, in)
	if err != nil {
		return "", fmt.Errorf("upload %s to s3://%s/%s: %w", u.Path, up.o.Bucket, u.Key, err)
	}
	return strings.Trim(aws.ToString(out.ETag), `"`), nil
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}

// body returns a seekable reader for the upload (the SDK refuses unseekable bodies
// over plain HTTP, and seeks to retry), without reading the whole file into memory.
func (up *uploader) body(u Upload) (io.ReadSeeker, int64, func(), error) {
	if !u.Gzip() {
		f, err := up.src.Open(u.Path)
		if err != nil {
			return nil, 0, nil, fmt.Errorf("open %s: %w", u.Path, err)
		}
		if rs, ok := f.(io.ReadSeeker); ok {
			return rs, u.Size, func() { f.Close() }, nil
		}
		f.Close()
		r := &reopener{fsys: up.src, path: u.Path, size: u.Size}
		return r, u.Size, func() { r.Close() }, nil
	}
	f, err := up.src.Open(u.Path)
	if err != nil {
		return nil, 0, nil, fmt.Errorf("open %s: %w", u.Path, err)
	}
	defer f.Close()
	if u.Size <= gzipInMemory {
		var buf bytes.Buffer
		if err := gzipTo(&buf, f); err != nil {
			return nil, 0, nil, fmt.Errorf("compress %s: %w", u.Path, err)
		}
		return bytes.NewReader(buf.Bytes()), int64(buf.Len()), func() {}, nil
	}
	tmp, err := os.CreateTemp("", "edgeflush-gzip-*")
	if err != nil {
		return nil, 0, nil, fmt.Errorf("compress %s: %w", u.Path, err)
	}
	cleanup := func() { tmp.Close(); os.Remove(tmp.Name()) }
	if err := gzipTo(tmp, f); err != nil {
		cleanup()
		return nil, 0, nil, fmt.Errorf("compress %s: %w", u.Path, err)
	}
	size, err := tmp.Seek(0, io.SeekCurrent)
	if err == nil {
		_, err = tmp.Seek(0, io.SeekStart)
	}
	if err != nil {
		cleanup()
		return nil, 0, nil, fmt.Errorf("compress %s: %w", u.Path, err)
	}
	return tmp, size, cleanup, nil
}

func gzipTo(w io.Writer, r io.Reader) error {
	zw, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return err
	}
	if _, err := io.Copy(zw, r); err != nil {
		return err
	}
	return zw.Close()
}

// reopener makes an fs.File without Seek (a zip entry) seekable by reopening it and
// skipping forward; the SDK only seeks to the start or end, so this stays cheap.
type reopener struct {
	fsys fs.FS
	path string
	size int64
	f    fs.File
	pos  int64
}

func (r *reopener) Read(b []byte) (int, error) {
	if r.pos >= r.size {
		return 0, io.EOF
	}
	if r.f == nil {
		f, err := r.fsys.Open(r.path)
		if err != nil {
			return 0, err
		}
		if _, err := io.CopyN(io.Discard, f, r.pos); err != nil {
			f.Close()
			return 0, err
		}
		r.f = f
	}
	n, err := r.f.Read(b)
	r.pos += int64(n)
	return n, err
}

func (r *reopener) Seek(offset int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = r.pos + offset
	case io.SeekEnd:
		abs = r.size + offset
	default:
		return 0, errors.New("reopener: bad whence")
	}
	if abs < 0 {
		return 0, errors.New("reopener: negative position")
	}
	if abs != r.pos && r.f != nil {
		r.f.Close()
		r.f = nil
	}
	r.pos = abs
	return abs, nil
}

func (r *reopener) Close() error {
	if r.f != nil {
		err := r.f.Close()
		r.f = nil
		return err
	}
	return nil
}
