package sitesync

import (
	"context"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// Upload is one object to write.
type Upload struct {
	Key, Path string
	Size      int64
	MD5       string
	Headers   Headers
	Gzip      bool
	// New is true when the key does not exist remotely.
	New bool
	// Reason says why: "new", "content", "headers".
	Reason string
}

// Plan is the outcome of Diff: what Apply will write, in order.
type Plan struct {
	// Uploads are ordered: non-HTML first, then HTML, each by key.
	Uploads []Upload
	// Deletes are remote keys missing locally, sorted (empty with NoDelete).
	Deletes []string
	// Kept are remote keys missing locally and kept because of NoDelete.
	Kept      []string
	Unchanged []string
	// Pending are keys an interrupted earlier attempt with the same JournalID recorded.
	Pending []string

	client S3API
	src    fs.FS
	o      Options
	// remote is the listing Diff compared against (the manifest's validators).
	remote map[string]remoteObject
	// trusted are the manifest entries Diff validated against the listing, learned the
	// states of unchanged keys that took a HEAD: together they describe every unchanged
	// key, for the next manifest (two maps rather than a copy, to keep memory low).
	trusted       map[string]manifestEntry
	learned       map[string]manifestEntry
	manifestDirty bool
	journalExists bool
}

// Diff compares src with the bucket and returns the plan without writing anything.
func Diff(ctx context.Context, client S3API, src fs.FS, o Options) (*Plan, error) {
	if err := o.normalize(); err != nil {
		return nil, err
	}
	t0 := time.Now()
	// The listing (slow on big buckets) and the hashing of the local files (slow on big
	// sites) are independent: run them side by side.
	var (
		remote, reserved map[string]remoteObject
		man              manifest
		pending          []string
		journalExists    bool
		paths            []string
		locals           []localFile
	)
	g0, g0ctx := errgroup.WithContext(ctx)
	g0.Go(func() error {
		var err error
		remote, reserved, err = list(g0ctx, client, o.Bucket, o.Prefix)
		if err != nil {
			return err
		}
		o.Logger.Debug("listed bucket", "objects", len(remote), "elapsed", time.Since(t0))
		if _, ok := reserved[manifestKey(o.Prefix)]; ok {
			if err := getJSON(g0ctx, client, o.Bucket, manifestKey(o.Prefix), &man); err != nil || man.Version != manifestVersion {
				// A damaged or foreign manifest only costs HEADs: fall back to them.
				o.Logger.Warn("ignoring deploy manifest", "key", manifestKey(o.Prefix), "err", err)
				man = manifest{}
			}
		}
		if o.JournalID != "" {
			if _, ok := reserved[journalKey(o.Prefix, o.JournalID)]; ok {
				keys, err := ReadJournal(g0ctx, client, o.Bucket, o.Prefix, o.JournalID)
				if err != nil {
					return err
				}
				pending, journalExists = keys, true
			}
		}
		o.Logger.Debug("read manifest and journal", "entries", len(man.Entries), "pending", len(pending), "elapsed", time.Since(t0))
		return nil
	})
	g0.Go(func() error {
		var err error
		paths, err = walk(src, &o)
		if err != nil {
			return fmt.Errorf("list local files: %w", err)
		}
		locals = make([]localFile, len(paths))
		g, _ := errgroup.WithContext(g0ctx)
		g.SetLimit(o.Concurrency)
		for i, path := range paths {
			g.Go(func() error {
				if err := g0ctx.Err(); err != nil {
					return err
				}
				lf, err := inspect(src, path, &o)
				locals[i] = lf
				return err
			})
		}
		if err := g.Wait(); err != nil {
			return err
		}
		o.Logger.Debug("hashed local files", "files", len(paths), "elapsed", time.Since(t0))
		return nil
	})
	if err := g0.Wait(); err != nil {
		return nil, err
	}
	if man.Entries == nil {
		man.Entries = map[string]manifestEntry{}
	}
	p := &Plan{client: client, src: src, o: o, trusted: man.Entries, learned: map[string]manifestEntry{}, remote: remote,
		Pending: pending, journalExists: journalExists}

	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(o.Concurrency)
	for _, lf := range locals {
		g.Go(func() error {
			digest := lf.Headers.Digest()
			up := Upload{Key: lf.Key, Path: lf.Path, Size: lf.Size, MD5: lf.MD5, Headers: lf.Headers, Gzip: lf.Gzip}
			ro, exists := remote[lf.Key]
			var reason string
			learned := false
			switch {
			case !exists:
				reason = "new"
			default:
				md5, hd, known := "", "", false
				if e, ok := man.Entries[lf.Key]; ok && e.ETag == ro.ETag && e.LastModified == ro.LastModified {
					md5, hd, known = e.MD5, e.HeaderDigest, true
				} else if !strings.Contains(ro.ETag, "-") && !lf.Gzip && ro.ETag != lf.MD5 {
					// A single-part plain object's ETag is its MD5 (unless SSE-KMS, where
					// this costs one redundant upload and then the manifest knows).
					reason = "content"
					break
				}
				if !known {
					var found bool
					var err error
					md5, hd, found, err = headState(gctx, client, o.Bucket, lf.Key)
					if err != nil {
						return err
					}
					if !found {
						reason = "new"
						break
					}
					learned = true
				}
				switch {
				case md5 != lf.MD5:
					reason = "content"
				case hd != digest:
					reason = "headers"
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if learned {
				p.manifestDirty = true
			}
			if reason == "" {
				p.Unchanged = append(p.Unchanged, lf.Key)
				if learned {
					p.learned[lf.Key] = manifestEntry{MD5: lf.MD5, HeaderDigest: digest}
				}
				return nil
			}
			up.Reason = reason
			up.New = reason == "new"
			p.Uploads = append(p.Uploads, up)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	o.Logger.Debug("compared", "uploads", len(p.Uploads), "elapsed", time.Since(t0))

	local := make(map[string]bool, len(paths))
	for _, path := range paths {
		local[o.Prefix+path] = true
	}
	for key := range remote {
		if !local[key] {
			if o.NoDelete {
				p.Kept = append(p.Kept, key)
			} else {
				p.Deletes = append(p.Deletes, key)
			}
		}
	}
	sort.Strings(p.Deletes)
	sort.Strings(p.Kept)
	sort.Strings(p.Unchanged)
	sort.Slice(p.Uploads, func(i, j int) bool {
		hi, hj := IsHTML(p.Uploads[i].Key), IsHTML(p.Uploads[j].Key)
		if hi != hj {
			return !hi
		}
		return p.Uploads[i].Key < p.Uploads[j].Key
	})
	if len(man.Entries) != len(p.Unchanged) {
		p.manifestDirty = true
	}
	return p, nil
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
	if len(p.Deletes) > limit {
		return &DeleteGuardError{Count: len(p.Deletes), Max: limit, Setting: p.o.MaxDeletesName}
	}
	return nil
}

// Result describes the plan as if applied (used for dry runs and guard errors).
func (p *Plan) Result() Result {
	r := Result{Deleted: p.Deletes, Unchanged: p.Unchanged, Pending: p.Pending, Kept: p.Kept}
	for _, u := range p.Uploads {
		r.Uploaded = append(r.Uploaded, u.Key)
	}
	sort.Strings(r.Uploaded)
	r.All = sortedUnion(r.Uploaded, r.Unchanged, r.Kept)
	r.Changed = sortedUnion(r.Uploaded, r.Deleted, r.Pending)
	return r
}

// Changed is the set of keys the plan changes, plus the journal's pending keys.
func (p *Plan) Changed() []string { return p.Result().Changed }
