// Package sitesync deploys a static site (a folder or an artifact zip, as an fs.FS) to an
// S3 bucket by content, not by modification time:
//
//   - the bucket is listed once (paginated) and each local file's MD5 is computed while
//     streaming it;
//   - an object is unchanged when its content MD5 and its header set (Content-Type,
//     Cache-Control, Content-Encoding, Content-Disposition, Content-Language, user
//     metadata) match. ListObjectsV2 returns neither headers nor metadata, so the last
//     deploy leaves a manifest (<prefix>.edgeflush/manifest.json, gzip-compressed) recording, per key, the
//     ETag and LastModified it saw with the MD5 and header digest it wrote. A manifest
//     entry is trusted only while the listing still shows that ETag and LastModified;
//     otherwise (first deploy over an existing bucket, an object rewritten by another
//     tool) one HeadObject settles it. Single-part objects whose ETag differs from the
//     local MD5 need no HEAD: they are uploaded. Every upload stores the source MD5 in
//     x-amz-meta-edgeflush-md5, so multipart and gzip objects compare without a HEAD
//     whenever the manifest is valid, and with one when it is not;
//   - uploads go non-HTML first, then HTML, then deletes (pages first, then the rest),
//     each phase complete before the next, so a page never points at an asset that is
//     not there yet or any more;
//   - deletes above MaxDeletes fail the whole sync before anything is written. Which
//     removed objects are deleted now and which are kept (Plan.Keep) is decided by the
//     caller from the site's ledger (internal/ledger): sitesync only carries it out.
//
// Memory is bounded by the number of keys (a fixed-size record and the key string each:
// about 250 bytes a key measured, no maps), never by file sizes: files are streamed, the manifest
// is decoded and written as a stream, gzip output larger than a few MiB goes through a
// temporary file, and multipart uploads read parts through io.ReaderAt when the source
// has one.
package sitesync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/edgeflush/edgeflush/internal/siteconfig"
)

// S3API is the subset of *s3.Client used by Sync.
type S3API interface {
	manager.UploadAPIClient
	ListObjectsV2(context.Context, *s3.ListObjectsV2Input, ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	HeadObject(context.Context, *s3.HeadObjectInput, ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	DeleteObject(context.Context, *s3.DeleteObjectInput, ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
	DeleteObjects(context.Context, *s3.DeleteObjectsInput, ...func(*s3.Options)) (*s3.DeleteObjectsOutput, error)
}

// Defaults for Options fields left zero.
const (
	DefaultConcurrency = 16
	// DefaultMaxDeletes guards against deploying the wrong folder or prefix: a real site
	// rarely removes more than a few hundred pages in one release. Raise it with
	// --max-deletes (MaxDeletes in the Lambda action) for a planned clean-up.
	DefaultMaxDeletes = 256
	// DefaultMultipartThreshold is the size above which the transfer manager uploads a
	// file in parts.
	DefaultMultipartThreshold = 16 << 20
	// DefaultPartSize is the multipart part size (S3's minimum is 5 MiB).
	DefaultPartSize = 8 << 20
	// DefaultMaxBytesInFlight caps the upload buffers held at once, whatever the file
	// sizes and the concurrency (see Options.MaxBytesInFlight): with 8 MiB parts, two
	// multipart uploads of sources without io.ReaderAt (zip entries) at a time.
	DefaultMaxBytesInFlight = 64 << 20
)

// Special MaxDeletes values (0 is DefaultMaxDeletes).
const (
	NoDeleteLimit = -1
	DenyDeletes   = -2
)

// ReservedDir is the folder (under the prefix) where edgeflush keeps its own state: the
// manifest and the deploy ledger (internal/ledger). It is never uploaded from the local tree, never
// deleted by a sync, and never planned for invalidation.
const ReservedDir = ".edgeflush/"

// ReleasesDir is the folder (under the prefix) that holds the site's releases
// (internal/release, deploy/edge): a plain sync leaves it alone.
const ReleasesDir = "_releases/"

// IsReserved reports whether a key (relative to a prefix) lies in a ReservedDir folder at
// any depth: the state of this site, or of another site deployed under a deeper prefix
// of the same bucket. Such keys are never uploaded, deleted or invalidated.
func IsReserved(rel string) bool {
	return strings.HasPrefix(rel, ReservedDir) || strings.Contains(rel, "/"+ReservedDir)
}

// Options configures Sync.
type Options struct {
	Bucket string
	// Prefix is the key prefix of the site in the bucket; "site" and "/site/" both mean
	// "site/". Empty means the bucket root.
	Prefix string
	// Config supplies the header rules; nil, or a Config whose Rules is nil (a file
	// without a rules key), means siteconfig.Default().
	Config *siteconfig.Config
	// MaxDeletes: 0 means DefaultMaxDeletes, NoDeleteLimit none, DenyDeletes allows no
	// delete at all.
	MaxDeletes int
	// MaxDeletesName names the setting in the guard's message ("--max-deletes" when empty).
	MaxDeletesName string
	NoDelete       bool
	DryRun         bool
	// Concurrency bounds parallel hashing, HEADs and uploads; 0 means DefaultConcurrency.
	Concurrency int
	// Progress receives a progress bar when it is a terminal, otherwise a line every
	// ProgressInterval or every tenth of the writes (one line per write with
	// VerboseProgress). Nil means no progress output.
	Progress        io.Writer
	VerboseProgress bool
	Logger          *slog.Logger

	// Exclude lists paths or doublestar globs (relative to the tree root) of local files
	// never uploaded; siteconfig.FileName at the root and ReservedDir folders are always excluded.
	Exclude []string
	// ExtraMetadata, when set, adds user metadata to the header set of each file (by its
	// path in the tree), on top of the matching rule's: internal/release marks the pages
	// of a release with the release id this way.
	ExtraMetadata func(path string) map[string]string
	// MultipartThreshold and PartSize tune the transfer manager (0 means the defaults;
	// PartSize is raised to S3's 5 MiB minimum).
	MultipartThreshold int64
	PartSize           int64
	// CacheTagMetadata lists S3 user-metadata keys ("cache-tag" for the CacheTagConfig
	// header x-amz-meta-cache-tag) that every uploaded object carries edgeflush's cache
	// tags in (cachetag.For of its key). The tags are part of the headers' digest, so
	// turning them on uploads every object once (tags.go).
	CacheTagMetadata []string
	// MaxBytesInFlight caps the bytes the uploads buffer at once (0 means
	// DefaultMaxBytesInFlight). Files are streamed, except the parts of a multipart
	// upload whose source cannot be read at an offset (a zip entry: the transfer manager
	// buffers up to three parts of it) and gzip output compressed in memory; an upload
	// waits until its buffers fit, so memory stays bounded by design rather than by
	// the file sizes times the concurrency.
	MaxBytesInFlight int64
	// StopAt, when set, is when Apply stops starting uploads (it always starts at least
	// one): the uploads in progress finish, the manifest records them, and the result
	// says how many are left (Result.Remaining); the pages and the deletes wait for a
	// later Apply, so the order of the writes holds across slices. The Lambda action
	// syncs a large artifact in slices that fit one invocation this way.
	StopAt time.Time
}

// Result reports a sync. Keys are full S3 keys (with the prefix).
type Result struct {
	Uploaded, Deleted, Unchanged []string
	// All is every site key present after the sync (or that would be, for a dry run).
	All []string
	// Pending are keys changed by earlier deploys and not yet covered by a completed
	// invalidation (Plan.Pending, from the site's ledger).
	Pending []string
	// Changed is Uploaded ∪ Deleted ∪ Pending, sorted: what to invalidate.
	Changed []string
	// Kept are remote keys missing locally that were not deleted because of NoDelete.
	Kept []string
	// Waiting are remote keys missing locally kept for now (Plan.Keep): they are still
	// served, so they count among All.
	Waiting []string
	// Remaining counts the uploads not made because StopAt passed (nothing was deleted
	// then).
	Remaining int
	// Writes counts the S3 write requests made (uploads, deletes, manifest).
	Writes int
}

// DeleteGuardError is returned when a sync would delete more than MaxDeletes objects.
// Nothing is written in that case: neither uploads nor deletes.
type DeleteGuardError struct {
	Count, Max int
	Setting    string
}

func (e *DeleteGuardError) Error() string {
	msg := fmt.Sprintf("refusing to delete %d objects: more than %s %d allows (nothing was written); raise %s",
		e.Count, e.Setting, e.Max, e.Setting)
	if strings.HasPrefix(e.Setting, "--") {
		msg += " or keep remote files with --no-delete"
	}
	return msg
}

// Sync makes the bucket prefix match src by content (see the package doc). With
// DryRun it computes the same plan and writes nothing.
func Sync(ctx context.Context, client S3API, src fs.FS, o Options) (Result, error) {
	p, err := Diff(ctx, client, src, o)
	if err != nil {
		return Result{}, err
	}
	if err := p.CheckDeletes(); err != nil {
		return p.Result(), err
	}
	if o.DryRun {
		return p.Result(), nil
	}
	return p.Apply(ctx)
}

func (o *Options) normalize() error {
	if o.Bucket == "" {
		return errors.New("no bucket given")
	}
	o.Prefix = NormalizePrefix(o.Prefix)
	if o.Config == nil || o.Config.Rules == nil {
		// No file, or a file without a rules key (only settings): the static-site
		// defaults. An explicit "rules: []" means no rules at all.
		o.Config = siteconfig.Default()
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.MaxDeletes == 0 {
		o.MaxDeletes = DefaultMaxDeletes
	}
	if o.MaxDeletesName == "" {
		o.MaxDeletesName = "--max-deletes"
	}
	if o.MultipartThreshold <= 0 {
		o.MultipartThreshold = DefaultMultipartThreshold
	}
	if o.MaxBytesInFlight <= 0 {
		o.MaxBytesInFlight = DefaultMaxBytesInFlight
	}
	if o.PartSize < manager.MinUploadPartSize {
		if o.PartSize <= 0 {
			o.PartSize = DefaultPartSize
		} else {
			o.PartSize = manager.MinUploadPartSize
		}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// NormalizePrefix turns a user-given prefix into a key prefix: no leading slash, one
// trailing slash, "" for the bucket root.
func NormalizePrefix(p string) string {
	p = strings.Trim(p, "/")
	if p == "" {
		return ""
	}
	return p + "/"
}

// IsHTML reports whether a key is a page (uploaded last among the uploads).
func IsHTML(key string) bool {
	k := strings.ToLower(key)
	return strings.HasSuffix(k, ".html") || strings.HasSuffix(k, ".htm")
}

// sortedUnion merges lists into one sorted list without duplicates (nil when empty). It
// sorts one concatenation rather than building a set: no per-key map entries.
func sortedUnion(lists ...[]string) []string {
	n := 0
	for _, l := range lists {
		n += len(l)
	}
	if n == 0 {
		return nil
	}
	out := make([]string, 0, n)
	for _, l := range lists {
		out = append(out, l...)
	}
	slices.Sort(out)
	return slices.Clip(slices.Compact(out))
}
