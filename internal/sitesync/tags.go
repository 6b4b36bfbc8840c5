package sitesync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/edgeflush/edgeflush/internal/cachetag"
	"github.com/edgeflush/edgeflush/internal/siteconfig"
)

// withCacheTags adds edgeflush's cache tags for key under each metadata key. The tags
// change the headers' digest: an object uploaded before tags were turned on differs
// and is uploaded again, so that after one deploy every object carries its tags.
func withCacheTags(h Headers, key string, metaKeys []string) Headers {
	v := cachetag.Header(key)
	tags := make(map[string]string, len(metaKeys))
	for _, k := range metaKeys {
		tags[k] = v
	}
	return withMetadata(h, tags)
}

// CheckCacheTagMetadata validates a metadata key for CacheTagMetadata.
func CheckCacheTagMetadata(k string) error {
	if k == "" || strings.ToLower(k) != k || strings.HasPrefix(k, siteconfig.ReservedMetadataPrefix) {
		return fmt.Errorf("cache tag metadata key %q: want a lower-case S3 metadata name outside %q", k, siteconfig.ReservedMetadataPrefix)
	}
	return nil
}

// TagLedger records, beside the manifest (in ReservedDir), since when each object
// carries edgeflush's cache tags and when each distribution last had a full
// invalidation: a tag may invalidate an object only when every cached copy must carry
// it (cachetag.Usable). It is a separate object from the manifest so that a deploy that
// writes no tags leaves it alone, and a lost or damaged ledger only makes tags unusable
// (paths are planned instead), never a page stale.
type TagLedger struct {
	Version int `json:"version"`
	// Tagged maps a full key to the Unix time (ms) since which its objects carry tags.
	Tagged map[string]int64 `json:"tagged"`
	// FullInvalidation maps an invalidation target to the Unix time (ms) of its last "/*".
	FullInvalidation map[string]int64 `json:"fullInvalidation"`
}

const tagLedgerVersion = 1

func tagLedgerKey(prefix string) string { return prefix + ReservedDir + "tags.json" }

// ReadTagLedger reads the ledger of the site at prefix; a missing, damaged or foreign
// one reads as empty (tags then stay unused until the objects are tagged again).
func ReadTagLedger(ctx context.Context, client S3API, bucket, prefix string) (*TagLedger, error) {
	l := &TagLedger{Version: tagLedgerVersion, Tagged: map[string]int64{}, FullInvalidation: map[string]int64{}}
	out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(tagLedgerKey(NormalizePrefix(prefix)))})
	if err != nil {
		var nsk *s3types.NoSuchKey
		if errors.As(err, &nsk) {
			return l, nil
		}
		return nil, fmt.Errorf("read cache tag ledger: %w", err)
	}
	defer out.Body.Close()
	var got TagLedger
	if err := json.NewDecoder(io.LimitReader(out.Body, maxStateSize)).Decode(&got); err != nil || got.Version != tagLedgerVersion {
		return l, nil
	}
	if got.Tagged != nil {
		l.Tagged = got.Tagged
	}
	if got.FullInvalidation != nil {
		l.FullInvalidation = got.FullInvalidation
	}
	return l, nil
}

// Record notes a sync's outcome at time now: uploaded keys carry tags when tagged (an
// object tagged before keeps its earlier time: its older copies carry the same tags),
// and none otherwise; deleted keys are forgotten. It returns the keys tagged for the
// first time, whose time Retag moves to when their uploads are known to be done.
func (l *TagLedger) Record(res Result, tagged bool, now time.Time) (first []string) {
	for _, k := range res.Uploaded {
		if !tagged {
			delete(l.Tagged, k)
		} else if _, ok := l.Tagged[k]; !ok {
			l.Tagged[k] = now.UnixMilli()
			first = append(first, k)
		}
	}
	for _, k := range res.Deleted {
		delete(l.Tagged, k)
	}
	return first
}

// Retag sets the tagging time of keys to at. A deploy plans (and so records) before it
// uploads; a copy of the untagged object cached during the uploads must not count as
// tagged, so the keys first tagged by the run get the time the uploads were done.
func (l *TagLedger) Retag(keys []string, at time.Time) {
	for _, k := range keys {
		if _, ok := l.Tagged[k]; ok {
			l.Tagged[k] = at.UnixMilli()
		}
	}
}

// TaggedSince returns since when key carries tags (zero: not known to).
func (l *TagLedger) TaggedSince(key string) time.Time {
	if t, ok := l.Tagged[key]; ok {
		return time.UnixMilli(t)
	}
	return time.Time{}
}

// LastFull returns the time of target's last full invalidation (zero: unknown).
func (l *TagLedger) LastFull(target string) time.Time {
	if t, ok := l.FullInvalidation[target]; ok {
		return time.UnixMilli(t)
	}
	return time.Time{}
}

// NoteFull records a full invalidation ("/*") of target created at time at.
func (l *TagLedger) NoteFull(target string, at time.Time) {
	l.FullInvalidation[target] = at.UnixMilli()
}

// Write stores the ledger.
func (l *TagLedger) Write(ctx context.Context, client S3API, bucket, prefix string) error {
	body, err := json.Marshal(l)
	if err != nil {
		return err
	}
	_, err = client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(tagLedgerKey(NormalizePrefix(prefix))),
		Body: strings.NewReader(string(body)), ContentType: aws.String("application/json")})
	if err != nil {
		return fmt.Errorf("write cache tag ledger: %w", err)
	}
	return nil
}
