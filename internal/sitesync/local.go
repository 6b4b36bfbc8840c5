package sitesync

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"mime"
	"net/http"
	"path"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/bmatcuk/doublestar/v4"

	"github.com/edgeflush/edgeflush/internal/siteconfig"
)

// MD5MetadataKey is the user-metadata key (x-amz-meta-edgeflush-md5) holding the hex MD5
// of the source file, so multipart and gzip objects can be compared without downloading.
const MD5MetadataKey = siteconfig.ReservedMetadataPrefix + "md5"

// Headers is the header set stored with an object.
type Headers struct {
	ContentType, CacheControl, ContentEncoding, ContentDisposition, ContentLanguage string
	Metadata                                                                        map[string]string
}

// Digest is a short hash of the header set, stable across runs and machines. The
// edgeflush-md5 metadata entry is excluded: it describes the content, not the headers.
func (h Headers) Digest() string {
	sum := h.digest()
	return hex.EncodeToString(sum[:])
}

// digest is Digest in its fixed-size form (the first 16 bytes of the SHA-256).
func (h Headers) digest() [16]byte {
	d := sha256.New()
	for _, kv := range [][2]string{
		{"cache-control", h.CacheControl},
		{"content-disposition", h.ContentDisposition},
		{"content-encoding", h.ContentEncoding},
		{"content-language", h.ContentLanguage},
		{"content-type", h.ContentType},
	} {
		fmt.Fprintf(d, "%s:%q\n", kv[0], kv[1])
	}
	if len(h.Metadata) > 0 {
		// S3 returns metadata keys lower-cased: compare them that way.
		meta := make(map[string]string, len(h.Metadata))
		for k, v := range h.Metadata {
			if lk := strings.ToLower(k); lk != MD5MetadataKey {
				meta[lk] = v
			}
		}
		keys := make([]string, 0, len(meta))
		for k := range meta {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(d, "meta-%s:%q\n", k, meta[k])
		}
	}
	var sum [sha256.Size]byte
	return [16]byte(d.Sum(sum[:0])[:16])
}

// headerSet is one distinct header set of the tree, shared by all the files that have
// it: a site has a handful (one per rule and content type), so a file only holds a
// pointer, not its own copy of the strings and the metadata map.
type headerSet struct {
	Headers Headers
	Gzip    bool
	digest  [16]byte
}

// headerSets interns header sets by digest (inspect runs concurrently).
type headerSets struct {
	mu   sync.Mutex
	sets map[headerSetKey]*headerSet
}

type headerSetKey struct {
	digest [16]byte
	gzip   bool
}

func (s *headerSets) intern(h Headers, gzip bool) *headerSet {
	k := headerSetKey{digest: h.digest(), gzip: gzip}
	s.mu.Lock()
	defer s.mu.Unlock()
	if hs, ok := s.sets[k]; ok {
		return hs
	}
	if s.sets == nil {
		s.sets = map[headerSetKey]*headerSet{}
	}
	hs := &headerSet{Headers: h, Gzip: gzip, digest: k.digest}
	s.sets[k] = hs
	return hs
}

// localFile is what Diff keeps of one file of the tree (its path is kept apart): a
// fixed-size record, so that tens of thousands of files cost little.
type localFile struct {
	Size int64
	MD5  [md5.Size]byte // of the source bytes
	hs   *headerSet
}

// walk lists the regular files of src, sorted, skipping the reserved folder, the
// configuration file at the root and the excluded globs.
func walk(src fs.FS, o *Options) ([]string, error) {
	var files []string
	err := fs.WalkDir(src, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
		if p == "." {
			return nil
		}
		if d.IsDir() {
			if d.Name()+"/" == ReservedDir {
				return fs.SkipDir // at any depth: a nested site's state (see IsReserved)
			}
			return nil
		}
		if p == siteconfig.FileName {
			return nil
		}
		for _, ex := range o.Exclude {
			if ok, _ := doublestar.Match(ex, p); ok || ex == p {
				return nil
			}
		}
		if !d.Type().IsRegular() {
			// Symlinks (os.DirFS follows them on Open) count when they lead to a file.
			info, err := fs.Stat(src, p)
			if err != nil {
				return fmt.Errorf("stat %s: %w", p, err)
			}
			if !info.Mode().IsRegular() {
				return nil
			}
		}
		if !utf8.ValidString(p) {
			return fmt.Errorf("file name %q is not valid UTF-8: S3 keys must be", p)
		}
		if len(o.Prefix)+len(p) > 1024 {
			return fmt.Errorf("key for %s is longer than S3's 1024 bytes", p)
		}
		files = append(files, p)
		return nil
	})
	sort.Strings(files)
	return files, err
}

// sniffLen is how much http.DetectContentType looks at.
const sniffLen = 512

// copyBuffers are the read buffers of inspect: the sniffed head, then the copy buffer.
var copyBuffers = sync.Pool{New: func() any { b := make([]byte, sniffLen+32<<10); return &b }}

// inspect streams one file once: MD5 and the first bytes for content sniffing.
func inspect(src fs.FS, p string, o *Options, sets *headerSets) (localFile, error) {
	f, err := src.Open(p)
	if err != nil {
		return localFile{}, fmt.Errorf("open %s: %w", p, err)
	}
	defer f.Close()
	h := md5.New()
	bufp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bufp)
	buf := *bufp
	head := buf[:sniffLen]
	n, err := io.ReadFull(f, head)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return localFile{}, fmt.Errorf("read %s: %w", p, err)
	}
	h.Write(head[:n])
	// The wrappers hide WriterTo/ReaderFrom so that the pooled buffer is used: otherwise
	// a 32 KiB buffer is allocated per file, and with tens of thousands of files that
	// churn alone drives the garbage collector.
	rest, err := io.CopyBuffer(struct{ io.Writer }{h}, struct{ io.Reader }{f}, buf[sniffLen:])
	if err != nil {
		return localFile{}, fmt.Errorf("read %s: %w", p, err)
	}
	lf := localFile{Size: int64(n) + rest}
	h.Sum(lf.MD5[:0])
	rule, _ := o.Config.Match(p)
	hd := headersFor(p, head[:n], rule)
	if len(o.CacheTagMetadata) > 0 {
		hd = withCacheTags(hd, o.Prefix+p, o.CacheTagMetadata)
	}
	if o.ExtraMetadata != nil {
		hd = withMetadata(hd, o.ExtraMetadata(p))
	}
	lf.hs = sets.intern(hd, rule.Gzip)
	return lf, nil
}

// withMetadata returns h with extra added to its metadata, on a copy: the rule's
// headers are shared by every file the rule matches.
func withMetadata(h Headers, extra map[string]string) Headers {
	if len(extra) == 0 {
		return h
	}
	m := make(map[string]string, len(h.Metadata)+len(extra))
	maps.Copy(m, h.Metadata)
	maps.Copy(m, extra)
	h.Metadata = m
	return h
}

func headersFor(p string, head []byte, rule siteconfig.Rule) Headers {
	h := Headers{
		ContentType:        rule.Headers["Content-Type"],
		CacheControl:       rule.Headers["Cache-Control"],
		ContentEncoding:    rule.Headers["Content-Encoding"],
		ContentDisposition: rule.Headers["Content-Disposition"],
		ContentLanguage:    rule.Headers["Content-Language"],
	}
	if h.ContentType == "" {
		h.ContentType = ContentType(p, head)
	}
	if rule.Gzip {
		h.ContentEncoding = "gzip"
	}
	if len(rule.Metadata) > 0 {
		h.Metadata = make(map[string]string, len(rule.Metadata))
		for k, v := range rule.Metadata {
			h.Metadata[k] = v
		}
	}
	return h
}

// webTypes pins the types of the extensions a static site is made of, so the same tree
// gets the same Content-Type on every machine: mime.TypeByExtension also reads the
// system's mime.types, which differs between a laptop, a CI runner and Lambda, and a
// differing type would re-upload the object.
var webTypes = map[string]string{
	".html":        "text/html; charset=utf-8",
	".htm":         "text/html; charset=utf-8",
	".css":         "text/css; charset=utf-8",
	".js":          "text/javascript; charset=utf-8",
	".mjs":         "text/javascript; charset=utf-8",
	".json":        "application/json",
	".map":         "application/json",
	".webmanifest": "application/manifest+json",
	".xml":         "application/xml",
	".rss":         "application/rss+xml",
	".atom":        "application/atom+xml",
	".txt":         "text/plain; charset=utf-8",
	".md":          "text/markdown; charset=utf-8",
	".csv":         "text/csv; charset=utf-8",
	".svg":         "image/svg+xml",
	".png":         "image/png",
	".jpg":         "image/jpeg",
	".jpeg":        "image/jpeg",
	".gif":         "image/gif",
	".webp":        "image/webp",
	".avif":        "image/avif",
	".ico":         "image/vnd.microsoft.icon",
	".woff":        "font/woff",
	".woff2":       "font/woff2",
	".ttf":         "font/ttf",
	".otf":         "font/otf",
	".wasm":        "application/wasm",
	".pdf":         "application/pdf",
	".zip":         "application/zip",
	".gz":          "application/gzip",
	".mp4":         "video/mp4",
	".webm":        "video/webm",
	".mp3":         "audio/mpeg",
	".ogg":         "audio/ogg",
	".wav":         "audio/wav",
}

// ContentType picks the type from the extension (the pinned web table, then the mime
// package), falling back to sniffing the first bytes.
func ContentType(p string, head []byte) string {
	ext := strings.ToLower(path.Ext(p))
	if t, ok := webTypes[ext]; ok {
		return t
	}
	if ext != "" {
		if t := mime.TypeByExtension(ext); t != "" {
			return t
		}
	}
	return http.DetectContentType(head)
}
