package sitesync

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// remoteObject is one listed object.
type remoteObject struct {
	ETag         string // without quotes
	Size         int64
	LastModified int64 // unix seconds
}

// list returns the objects under prefix, the site ones and the reserved ones apart.
func list(ctx context.Context, client S3API, bucket, prefix string) (site, reserved map[string]remoteObject, err error) {
	site = map[string]remoteObject{}
	reserved = map[string]remoteObject{}
	in := &s3.ListObjectsV2Input{Bucket: aws.String(bucket)}
	if prefix != "" {
		in.Prefix = aws.String(prefix)
	}
	pager := s3.NewListObjectsV2Paginator(client, in)
	for pager.HasMorePages() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("list s3://%s/%s: %w", bucket, prefix, err)
		}
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			ro := remoteObject{ETag: strings.Trim(aws.ToString(o.ETag), `"`), Size: aws.ToInt64(o.Size)}
			if o.LastModified != nil {
				ro.LastModified = o.LastModified.Unix()
			}
			switch rel := key[len(prefix):]; {
			case strings.HasPrefix(rel, ReservedDir):
				reserved[key] = ro
			case IsReserved(rel):
				// The state of a site deployed under a deeper prefix: not ours to delete.
			case strings.HasSuffix(rel, "/"):
				// A folder marker (the S3 console's "Create folder"): no local file can
				// have this name, and deleting it would only trip the delete guard.
			default:
				site[key] = ro
			}
		}
	}
	return site, reserved, nil
}

// manifestVersion changes when the meaning of an entry changes; other versions are ignored.
const manifestVersion = 1

// manifest records what the last deploy wrote, keyed by full key.
type manifest struct {
	Version int                      `json:"version"`
	Entries map[string]manifestEntry `json:"entries"`
}

type manifestEntry struct {
	ETag         string `json:"etag"`
	LastModified int64  `json:"mtime"`
	MD5          string `json:"md5"`
	HeaderDigest string `json:"headers"`
}

func manifestKey(prefix string) string { return prefix + ReservedDir + "manifest.json" }

func journalKey(prefix, id string) string { return prefix + ReservedDir + "journal/" + id + ".json" }

// maxStateSize bounds the manifest and journal reads (a 100,000-file manifest is ~15 MB).
const maxStateSize = 64 << 20

func getJSON(ctx context.Context, client S3API, bucket, key string, v any) error {
	out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)},
		// S3-compatible stores (and objects written without a checksum) answer without
		// one; the SDK would log that on every deploy.
		func(o *s3.Options) { o.DisableLogOutputChecksumValidationSkipped = true })
	if err != nil {
		return fmt.Errorf("get s3://%s/%s: %w", bucket, key, err)
	}
	defer out.Body.Close()
	data, err := io.ReadAll(io.LimitReader(out.Body, maxStateSize))
	if err != nil {
		return fmt.Errorf("read s3://%s/%s: %w", bucket, key, err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decode s3://%s/%s: %w", bucket, key, err)
	}
	return nil
}

func putJSON(ctx context.Context, client S3API, bucket, key string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	_, err = client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(bucket),
		Key:           aws.String(key),
		Body:          bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data))),
		ContentType:   aws.String("application/json"),
		CacheControl:  aws.String("no-store"),
	})
	if err != nil {
		return fmt.Errorf("put s3://%s/%s: %w", bucket, key, err)
	}
	return nil
}

// journal is the record of keys a deploy is about to change (see Options.JournalID).
type journal struct {
	Keys    []string  `json:"keys"`
	Updated time.Time `json:"updated"`
}

// ReadJournal returns the keys recorded under id, or nil when there is no journal.
func ReadJournal(ctx context.Context, client S3API, bucket, prefix, id string) ([]string, error) {
	var j journal
	err := getJSON(ctx, client, bucket, journalKey(NormalizePrefix(prefix), id), &j)
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read deploy journal: %w", err)
	}
	return j.Keys, nil
}

// ClearJournal removes the journal id once its keys have been invalidated.
func ClearJournal(ctx context.Context, client S3API, bucket, prefix, id string) error {
	key := journalKey(NormalizePrefix(prefix), id)
	_, err := client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("clear deploy journal s3://%s/%s: %w", bucket, key, err)
	}
	return nil
}

func writeJournal(ctx context.Context, client S3API, bucket, prefix, id string, keys []string) error {
	sort.Strings(keys)
	return putJSON(ctx, client, bucket, journalKey(prefix, id), journal{Keys: keys, Updated: time.Now().UTC()})
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
func headState(ctx context.Context, client S3API, bucket, key string) (md5, digest string, found bool, err error) {
	out, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if isNotFound(err) {
		return "", "", false, nil
	}
	if err != nil {
		return "", "", false, fmt.Errorf("head s3://%s/%s: %w", bucket, key, err)
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
	return md5, h.Digest(), true, nil
}
