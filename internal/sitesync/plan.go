package sitesync

import (
	"context"
	"encoding/hex"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
)

// Upload is one object to write. It is kept small (the header set is shared with the
// other files that have it): an initial deploy holds one per file.
type Upload struct {
	Key  string
	Path string // Key without the prefix: the file's path in the tree
	Size int64
	// New is true when the key does not exist remotely.
	New bool
	// Reason says why: "new", "content", "headers".
	Reason string

	md5 [16]byte
	hs  *headerSet
	// etag is what the upload returned; mtime and current are filled in by
	// writeManifest when S3 still shows that very object.
	etag    etag
	mtime   int64
	current bool
}

// Headers returns the header set the object is written with.
func (u Upload) Headers() Headers { return u.hs.Headers }

// Gzip reports whether the object is stored gzip-compressed.
func (u Upload) Gzip() bool { return u.hs.Gzip }

// MD5 returns the hex MD5 of the source file.
func (u Upload) MD5() string { return hex.EncodeToString(u.md5[:]) }

// Plan is the outcome of Diff: what Apply will write, in order.
type Plan struct {
	// Uploads are ordered: non-HTML first, then HTML, each by key.
	Uploads []Upload
	// Deletes are remote keys missing locally, sorted (empty with NoDelete).
	Deletes []string
	// Kept are remote keys missing locally and kept because of NoDelete.
	Kept      []string
	Unchanged []string
	// Pending are keys changed by earlier deploys and not yet covered by a completed
	// invalidation: the caller sets them from the site's ledger, so that this deploy's
	// invalidation covers them too.
	Pending []string
	// Waiting are remote keys missing locally that this deploy keeps (Keep), sorted.
	Waiting []string
	// LaterDeletes counts objects this deploy deletes after its invalidation completed
	// (set by the caller): CheckDeletes counts them with Deletes.
	LaterDeletes int

	client S3API
	src    fs.FS
	o      Options
	// remote is the listing Diff compared against, sorted by key; its records carry the
	// state of the unchanged keys for the next manifest.
	remote        []remoteObject
	manifestDirty bool
}

// Diff compares src with the bucket and returns the plan without writing anything.
//
// Memory: one fixed-size record per remote key (remoteObject) and per local file
// (localFile, dropped when Diff returns), the key strings once each, and one Upload
// per file to write. The manifest is streamed into the remote records; no map is built.
func Diff(ctx context.Context, client S3API, src fs.FS, o Options) (*Plan, error) {
	if err := o.normalize(); err != nil {
		return nil, err
	}
	t0 := time.Now()
	// The listing (slow on big buckets) and the hashing of the local files (slow on big
	// sites) are independent: run them side by side.
	var (
		remote     []remoteObject
		reserved   []string
		manEntries int
		paths      []string
		locals     []localFile
		sets       headerSets
	)
	g0, g0ctx := errgroup.WithContext(ctx)
	g0.Go(recovered(func() error {
		var err error
		remote, reserved, err = list(g0ctx, client, o.Bucket, o.Prefix)
		if err != nil {
			return err
		}
		o.Logger.Debug("listed bucket", "objects", len(remote), "elapsed", time.Since(t0))
		if slices.Contains(reserved, manifestKey(o.Prefix)) {
			manEntries, err = readManifest(g0ctx, client, o.Bucket, manifestKey(o.Prefix), o.Prefix, remote)
			if err != nil {
				// A damaged or foreign manifest only costs HEADs: fall back to them.
				o.Logger.Warn("ignoring deploy manifest", "key", manifestKey(o.Prefix), "err", err)
			}
		}
		o.Logger.Debug("read manifest", "entries", manEntries, "elapsed", time.Since(t0))
		return nil
	}))
	g0.Go(recovered(func() error {
		var err error
		paths, err = walk(src, &o)
		if err != nil {
			return fmt.Errorf("list local files: %w", err)
		}
		locals = make([]localFile, len(paths))
		g, _ := errgroup.WithContext(g0ctx)
		g.SetLimit(o.Concurrency)
		for i, path := range paths {
			g.Go(recovered(func() error {
				if err := g0ctx.Err(); err != nil {
					return err
				}
				lf, err := inspect(src, path, &o, &sets)
				locals[i] = lf
				return err
			}))
		}
		if err := g.Wait(); err != nil {
			return err
		}
		o.Logger.Debug("hashed local files", "files", len(paths), "elapsed", time.Since(t0))
		return nil
	}))
	if err := g0.Wait(); err != nil {
		return nil, err
	}
	p := &Plan{client: client, src: src, o: o, remote: remote}

	// Each goroutine writes only the remote record and the verdict of its own key (keys
	// are unique), so neither needs a lock. The uploads are built afterwards, once their
	// number is known: no growing slice of upload records.
	verdicts := make([]verdict, len(paths))
	var learnedAny atomic.Bool
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(o.Concurrency)
	for i, path := range paths {
		lf := locals[i]
		g.Go(recovered(func() error {
			ri := findRemote(remote, o.Prefix, path)
			var ro *remoteObject
			if ri >= 0 {
				ro = &remote[ri]
				ro.local = true
			}
			var reason verdict
			learned := false
			switch {
			case ro == nil:
				reason = verdictNew
			default:
				known := ro.known
				if !known && !ro.ETag.multipart() && !lf.hs.Gzip && !ro.ETag.isMD5(lf.MD5) {
					// A single-part plain object's ETag is its MD5 (unless SSE-KMS, where
					// this costs one redundant upload and then the manifest knows).
					reason = verdictContent
					break
				}
				md5, hd := ro.md5, ro.headers
				if !known {
					var found bool
					var md5hex string
					var err error
					md5hex, hd, found, err = headState(gctx, client, o.Bucket, ro.Key)
					if err != nil {
						return err
					}
					if !found {
						reason = verdictNew
						break
					}
					var ok bool
					if md5, ok = decodeHex16(md5hex); !ok {
						// No usable MD5 (a multipart object written by another tool).
						reason = verdictContent
						break
					}
					learned = true
				}
				switch {
				case md5 != lf.MD5:
					reason = verdictContent
				case hd != lf.hs.digest:
					reason = verdictHeaders
				}
			}
			if learned {
				learnedAny.Store(true)
			}
			if reason == verdictUnchanged {
				// The manifest records the local state of an unchanged key (equal to
				// the remote one) under the ETag and LastModified listed.
				ro.unchanged, ro.md5, ro.headers = true, lf.MD5, lf.hs.digest
			}
			verdicts[i] = reason
			return nil
		}))
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	p.manifestDirty = learnedAny.Load()
	n := 0
	for _, v := range verdicts {
		if v != verdictUnchanged {
			n++
		}
	}
	p.Uploads = make([]Upload, 0, n)
	for i, v := range verdicts {
		if v == verdictUnchanged {
			continue
		}
		var key string
		if ri := findRemote(remote, o.Prefix, paths[i]); ri >= 0 {
			key = remote[ri].Key // share the listed key's string
		} else {
			key = o.Prefix + paths[i]
		}
		lf := locals[i]
		p.Uploads = append(p.Uploads, Upload{Key: key, Path: key[len(o.Prefix):], Size: lf.Size, md5: lf.MD5, hs: lf.hs,
			Reason: v.String(), New: v == verdictNew})
	}
	o.Logger.Debug("compared", "uploads", len(p.Uploads), "elapsed", time.Since(t0))

	// The listing is sorted: so are the lists built from it.
	if unchanged := len(paths) - n; unchanged > 0 {
		p.Unchanged = make([]string, 0, unchanged)
	}
	for i := range remote {
		switch ro := &remote[i]; {
		case ro.unchanged:
			p.Unchanged = append(p.Unchanged, ro.Key)
		case ro.local:
		case o.NoDelete:
			p.Kept = append(p.Kept, ro.Key)
		default:
			p.Deletes = append(p.Deletes, ro.Key)
		}
	}
	sortUploads(p.Uploads)
	if manEntries != len(p.Unchanged) {
		p.manifestDirty = true
	}
	return p, nil
}

// verdict is the outcome of comparing one file.
type verdict uint8

const (
	verdictUnchanged verdict = iota
	verdictNew
	verdictContent
	verdictHeaders
)

// String is the Upload.Reason of the verdict.
func (v verdict) String() string {
	switch v {
	case verdictNew:
		return "new"
	case verdictContent:
		return "content"
	case verdictHeaders:
		return "headers"
	}
	return "unchanged"
}

// sortUploads orders uploads non-HTML first, then HTML, each by key.
func sortUploads(ups []Upload) {
	sort.Slice(ups, func(i, j int) bool {
		hi, hj := IsHTML(ups[i].Key), IsHTML(ups[j].Key)
		if hi != hj {
			return !hi
		}
		return ups[i].Key < ups[j].Key
	})
}

// findUpload returns the index in p.Uploads of key, or -1.
func (p *Plan) findUpload(key string) int {
	split := sort.Search(len(p.Uploads), func(i int) bool { return IsHTML(p.Uploads[i].Key) })
	lo, hi := 0, split
	if IsHTML(key) {
		lo, hi = split, len(p.Uploads)
	}
	i := lo + sort.Search(hi-lo, func(i int) bool { return p.Uploads[lo+i].Key >= key })
	if i < hi && p.Uploads[i].Key == key {
		return i
	}
	return -1
}

// CheckDeletes returns a *DeleteGuardError when the plan deletes more than MaxDeletes.
func (p *Plan) CheckDeletes() error {
	limit := p.o.MaxDeletes
	switch {
	case limit == NoDeleteLimit:
		return nil
	case limit < 0:
		limit = 0
	}
	if n := len(p.Deletes) + p.LaterDeletes; n > limit {
		return &DeleteGuardError{Count: n, Max: limit, Setting: p.o.MaxDeletesName}
	}
	return nil
}

// Result describes the plan as if applied (used for dry runs and guard errors).
func (p *Plan) Result() Result {
	r := Result{Uploaded: p.uploadedKeys(), Deleted: p.Deletes, Unchanged: p.Unchanged, Pending: p.Pending, Kept: p.Kept, Waiting: p.Waiting}
	r.All = sortedUnion(r.Uploaded, r.Unchanged, r.Kept, r.Waiting)
	r.Changed = sortedUnion(r.Uploaded, r.Deleted, r.Pending)
	return r
}

// uploadedKeys returns the keys of the uploads, sorted.
func (p *Plan) uploadedKeys() []string {
	if len(p.Uploads) == 0 {
		return nil
	}
	keys := make([]string, len(p.Uploads))
	for i, u := range p.Uploads {
		keys[i] = u.Key
	}
	sort.Strings(keys)
	return keys
}

// Changed is the set of keys the plan changes, plus the pending keys.
func (p *Plan) Changed() []string { return p.Result().Changed }

// Keep moves keys from Deletes to Waiting: removed objects this deploy leaves in the
// bucket for now (see internal/ledger). Keys not in Deletes are ignored.
func (p *Plan) Keep(keys []string) {
	if len(keys) == 0 {
		return
	}
	keep := make(map[string]bool, len(keys))
	for _, k := range keys {
		keep[k] = true
	}
	var rest []string
	for _, k := range p.Deletes {
		if keep[k] {
			p.Waiting = append(p.Waiting, k)
		} else {
			rest = append(rest, k)
		}
	}
	p.Deletes = rest
	p.Waiting = sortedUnion(p.Waiting)
}
