package sitesync

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// etag is an S3 ETag in a fixed-size form: the 16 bytes of an MD5-style ETag and, for a
// multipart object ("<hex>-<parts>"), the part count. An ETag of any other shape (some
// S3-compatible stores, or none at all) keeps its text in raw, with text set. Two etags
// are equal exactly when their texts are (only lower-case hex and canonical part counts
// are packed, so packing loses nothing).
type etag struct {
	sum   [16]byte
	parts uint32
	text  bool
	raw   string
}

func parseETag(s string) etag {
	s = strings.Trim(s, `"`)
	h, parts, multipart := strings.Cut(s, "-")
	if sum, ok := decodeHex16(h); ok {
		if !multipart {
			return etag{sum: sum}
		}
		if n, err := strconv.ParseUint(parts, 10, 32); err == nil && n > 0 && strconv.FormatUint(n, 10) == parts {
			return etag{sum: sum, parts: uint32(n)}
		}
	}
	return etag{text: true, raw: strings.Clone(s)}
}

func (e etag) String() string {
	switch {
	case e.text:
		return e.raw
	case e.parts > 0:
		return hex.EncodeToString(e.sum[:]) + "-" + strconv.FormatUint(uint64(e.parts), 10)
	}
	return hex.EncodeToString(e.sum[:])
}

// multipart reports whether the ETag is not the MD5 of the object's bytes.
func (e etag) multipart() bool { return e.parts > 0 || strings.Contains(e.raw, "-") }

// isMD5 reports whether the ETag is that of a single-part object with this MD5.
func (e etag) isMD5(sum [16]byte) bool { return !e.text && e.parts == 0 && e.sum == sum }

// decodeHex16 decodes 32 lower-case hex digits.
func decodeHex16(s string) (out [16]byte, ok bool) {
	if len(s) != 32 {
		return out, false
	}
	for i := range 32 {
		c := s[i]
		var v byte
		switch {
		case c >= '0' && c <= '9':
			v = c - '0'
		case c >= 'a' && c <= 'f':
			v = c - 'a' + 10
		default:
			return out, false
		}
		out[i/2] = out[i/2]<<4 | v
	}
	return out, true
}

// remoteObject is one listed site object, with what Diff learned about it. Diff keeps
// them in a slice sorted by key (no maps: a deploy holds one record per key).
type remoteObject struct {
	Key          string
	ETag         etag
	LastModified int64 // unix seconds
	// md5 and headers are the content MD5 and header digest of the object: from the
	// manifest while it recorded this very object (known), then, for an unchanged
	// object, those of the local file (which equal them).
	md5, headers [16]byte
	known        bool
	// local: a local file has this key; unchanged: Diff found it equal.
	local, unchanged bool
	// current: writeManifest saw the object unchanged since Diff listed it.
	current bool
}

// findRemote returns the index of the object whose key is prefix+rel in a sorted
// slice of objects under prefix, or -1.
func findRemote(objs []remoteObject, prefix, rel string) int {
	i := sort.Search(len(objs), func(i int) bool { return objs[i].Key[len(prefix):] >= rel })
	if i < len(objs) && objs[i].Key[len(prefix):] == rel {
		return i
	}
	return -1
}

// listEach lists the objects under prefix page by page and calls fn for each, telling
// the site objects from the reserved ones (ours or a nested site's: see IsReserved);
// folder markers and nested sites' state are skipped.
func listEach(ctx context.Context, client S3API, bucket, prefix string, fn func(key string, e etag, mtime int64, reserved bool)) error {
	in := &s3.ListObjectsV2Input{Bucket: aws.String(bucket)}
	if prefix != "" {
		in.Prefix = aws.String(prefix)
	}
	pager := s3.NewListObjectsV2Paginator(client, in)
	for pager.HasMorePages() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list s3://%s/%s: %w", bucket, prefix, err)
		}
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			var mtime int64
			if o.LastModified != nil {
				mtime = o.LastModified.Unix()
			}
			switch rel := key[len(prefix):]; {
			case strings.HasPrefix(rel, ReservedDir):
				fn(key, parseETag(aws.ToString(o.ETag)), mtime, true)
			case IsReserved(rel):
				// The state of a site deployed under a deeper prefix: not ours to delete.
			case strings.HasPrefix(rel, ReleasesDir):
				// The site's releases (internal/release): a plain deploy to the same prefix
				// neither compares nor deletes them.
			case strings.HasSuffix(rel, "/"):
				// A folder marker (the S3 console's "Create folder"): no local file can
				// have this name, and deleting it would only trip the delete guard.
			default:
				fn(key, parseETag(aws.ToString(o.ETag)), mtime, false)
			}
		}
	}
	return nil
}

// list returns the site objects under prefix sorted by key, and the reserved keys.
func list(ctx context.Context, client S3API, bucket, prefix string) (site []remoteObject, reserved []string, err error) {
	err = listEach(ctx, client, bucket, prefix, func(key string, e etag, mtime int64, res bool) {
		if res {
			reserved = append(reserved, key)
		} else {
			site = append(site, remoteObject{Key: key, ETag: e, LastModified: mtime})
		}
	})
	if err != nil {
		return nil, nil, err
	}
	// S3 lists in key order already; an S3-compatible store might not.
	if !sort.SliceIsSorted(site, func(i, j int) bool { return site[i].Key < site[j].Key }) {
		sort.Slice(site, func(i, j int) bool { return site[i].Key < site[j].Key })
	}
	return slices.Clip(site), reserved, nil
}

// manifestVersion changes when the meaning of an entry changes; other versions are ignored.
const manifestVersion = 1

// The manifest records what the last deploy wrote, keyed by full key:
//
//	{"version":1,"entries":{"<key>":{"etag":"..","mtime":N,"md5":"<hex>","headers":"<hex>"},...}}
//
// It is read and written as a stream (readManifest, manifestWriter), never held whole.
type manifestEntry struct {
	ETag         string `json:"etag"`
	LastModified int64  `json:"mtime"`
	MD5          string `json:"md5"`
	HeaderDigest string `json:"headers"`
}

func manifestKey(prefix string) string { return prefix + ReservedDir + "manifest.json" }

// maxStateSize bounds the manifest read (a 100,000-file manifest is ~15 MB).
const maxStateSize = 64 << 20

// readManifest streams the manifest and marks the listed objects it still describes
// (same ETag and LastModified) as known, with their MD5 and header digest. It returns
// the number of entries. On any error (a damaged or foreign manifest) nothing is
// marked known: that only costs HEADs.
func readManifest(ctx context.Context, client S3API, bucket, key, prefix string, site []remoteObject) (entries int, err error) {
	defer func() {
		if err != nil {
			for i := range site {
				site[i].known = false
			}
		}
	}()
	out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)},
		func(o *s3.Options) { o.DisableLogOutputChecksumValidationSkipped = true })
	if err != nil {
		return 0, fmt.Errorf("get s3://%s/%s: %w", bucket, key, err)
	}
	defer out.Body.Close()
	bad := func(err error) (int, error) { return 0, fmt.Errorf("decode s3://%s/%s: %w", bucket, key, err) }
	body, err := maybeGunzip(out.Body)
	if err != nil {
		return bad(err)
	}
	dec := json.NewDecoder(io.LimitReader(body, maxStateSize))
	if err := expectDelim(dec, '{'); err != nil {
		return bad(err)
	}
	version := 0
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return bad(err)
		}
		switch t {
		case "version":
			if err := dec.Decode(&version); err != nil {
				return bad(err)
			}
		case "entries":
			if err := expectDelim(dec, '{'); err != nil {
				return bad(err)
			}
			for dec.More() {
				t, err := dec.Token()
				if err != nil {
					return bad(err)
				}
				k, _ := t.(string)
				var e manifestEntry
				if err := dec.Decode(&e); err != nil {
					return bad(err)
				}
				entries++
				if !strings.HasPrefix(k, prefix) {
					continue
				}
				i := findRemote(site, prefix, k[len(prefix):])
				if i < 0 || site[i].ETag != parseETag(e.ETag) || site[i].LastModified != e.LastModified {
					continue
				}
				md5, ok1 := decodeHex16(e.MD5)
				hd, ok2 := decodeHex16(e.HeaderDigest)
				if ok1 && ok2 {
					site[i].md5, site[i].headers, site[i].known = md5, hd, true
				}
			}
			if err := expectDelim(dec, '}'); err != nil {
				return bad(err)
			}
		default:
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return bad(err)
			}
		}
	}
	if err := expectDelim(dec, '}'); err != nil {
		return bad(err)
	}
	if version != manifestVersion {
		return 0, fmt.Errorf("s3://%s/%s: manifest version %d, want %d", bucket, key, version, manifestVersion)
	}
	return entries, nil
}

func expectDelim(dec *json.Decoder, d json.Delim) error {
	t, err := dec.Token()
	if err != nil {
		return err
	}
	if t != d {
		return fmt.Errorf("got %v, want %v", t, d)
	}
	return nil
}

// maybeGunzip returns r decompressed when it starts with the gzip magic bytes (the
// manifest as written since it is stored compressed), else r as it is (a manifest
// written before, or one the HTTP client already decompressed).
func maybeGunzip(r io.Reader) (io.Reader, error) {
	br := bufio.NewReader(r)
	magic, err := br.Peek(2)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		return gzip.NewReader(br)
	}
	return br, nil
}

// manifestGzip stores the manifest gzip-compressed: every deploy that changes
// anything rewrites it whole, and its hex digests and repeated key prefixes shrink to
// about a third (tests turn it off to measure the difference).
var manifestGzip = true

// manifestWriter writes the manifest entry by entry, gzip-compressed, into a temporary
// file, so that writing it takes no memory per key; put uploads the file. Where no
// temporary file can be created (a read-only file system) it falls back to memory.
type manifestWriter struct {
	f   *os.File      // nil when writing to mem
	mem *bytes.Buffer // the fallback
	zw  *gzip.Writer  // nil when not compressing
	w   *bufio.Writer
	n   int
	buf []byte
}

func newManifestWriter() *manifestWriter {
	m := &manifestWriter{}
	var dst io.Writer
	if f, err := os.CreateTemp("", "edgeflush-manifest-*.json.gz"); err == nil {
		m.f, dst = f, f
	} else {
		m.mem = &bytes.Buffer{}
		dst = m.mem
	}
	if manifestGzip {
		m.zw = gzip.NewWriter(dst)
		dst = m.zw
	}
	m.w = bufio.NewWriter(dst)
	fmt.Fprintf(m.w, `{"version":%d,"entries":{`, manifestVersion)
	return m
}

func (m *manifestWriter) entry(key string, e etag, mtime int64, md5, headers [16]byte) {
	if m.n > 0 {
		m.w.WriteByte(',')
	}
	m.n++
	b := appendJSONString(m.buf[:0], key)
	b = append(b, `:{"etag":`...)
	b = appendJSONString(b, e.String())
	b = append(b, `,"mtime":`...)
	b = strconv.AppendInt(b, mtime, 10)
	b = append(b, `,"md5":"`...)
	b = hex.AppendEncode(b, md5[:])
	b = append(b, `","headers":"`...)
	b = hex.AppendEncode(b, headers[:])
	b = append(b, `"}`...)
	m.w.Write(b)
	m.buf = b
}

func appendJSONString(b []byte, s string) []byte {
	q, err := json.Marshal(s)
	if err != nil { // cannot happen for a string; keep the output valid anyway
		return append(b, `""`...)
	}
	return append(b, q...)
}

// put finishes the manifest and uploads it; the temporary file is removed either way.
func (m *manifestWriter) put(ctx context.Context, client S3API, bucket, key string) error {
	defer m.close()
	m.w.WriteString("}}")
	err := m.w.Flush()
	if err == nil && m.zw != nil {
		err = m.zw.Close()
	}
	if err != nil {
		return fmt.Errorf("write the deploy manifest: %w", err)
	}
	var body io.ReadSeeker
	var size int64
	if m.f != nil {
		var err error
		size, err = m.f.Seek(0, io.SeekCurrent)
		if err == nil {
			_, err = m.f.Seek(0, io.SeekStart)
		}
		if err != nil {
			return fmt.Errorf("write the deploy manifest: %w", err)
		}
		body = m.f
	} else {
		body, size = bytes.NewReader(m.mem.Bytes()), int64(m.mem.Len())
	}
	in := &s3.PutObjectInput{
		Bucket:        aws.String(bucket),
		Key:           aws.String(key),
		Body:          body,
		ContentLength: aws.Int64(size),
		ContentType:   aws.String("application/json"),
		CacheControl:  aws.String("no-store"),
	}
	if m.zw != nil {
		in.ContentEncoding = aws.String("gzip")
	}
	_, err = client.PutObject(ctx, in)
	if err != nil {
		return fmt.Errorf("put s3://%s/%s: %w", bucket, key, err)
	}
	return nil
}

func (m *manifestWriter) close() {
	if m.f != nil {
		m.f.Close()
		os.Remove(m.f.Name())
	}
}

func isNotFound(err error) bool {
	if err == nil {
		return false
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NoSuchKey", "NotFound", "404":
			return true
		}
	}
	return false
}

// headState asks S3 for an object's content MD5 (from our metadata, else the ETag of a
// single-part object) and its header digest. found is false when the object is gone.
func headState(ctx context.Context, client S3API, bucket, key string) (md5 string, digest [16]byte, found bool, err error) {
	out, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if isNotFound(err) {
		return "", digest, false, nil
	}
	if err != nil {
		return "", digest, false, fmt.Errorf("head s3://%s/%s: %w", bucket, key, err)
	}
	h := Headers{
		ContentType:        aws.ToString(out.ContentType),
		CacheControl:       aws.ToString(out.CacheControl),
		ContentEncoding:    aws.ToString(out.ContentEncoding),
		ContentDisposition: aws.ToString(out.ContentDisposition),
		ContentLanguage:    aws.ToString(out.ContentLanguage),
		Metadata:           out.Metadata,
	}
	for k, v := range out.Metadata {
		if strings.EqualFold(k, MD5MetadataKey) {
			md5 = v
		}
	}
	if etag := strings.Trim(aws.ToString(out.ETag), `"`); md5 == "" && !strings.Contains(etag, "-") && h.ContentEncoding == "" {
		md5 = etag
	}
	return md5, h.digest(), true, nil
}
