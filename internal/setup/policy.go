package setup

import (
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"strings"
)

// policyDocument is an IAM policy in the shape setup writes.
type policyDocument struct {
	Version   string      `json:"Version"`
	Statement []statement `json:"Statement"`
}

type statement struct {
	Sid       string         `json:"Sid,omitempty"`
	Effect    string         `json:"Effect"`
	Principal map[string]any `json:"Principal,omitempty"`
	Action    []string       `json:"Action"`
	Resource  []string       `json:"Resource,omitempty"`
	Condition map[string]any `json:"Condition,omitempty"`
}

func (d policyDocument) json() string {
	b, err := json.Marshal(d)
	if err != nil {
		// Only strings, slices and maps of strings: marshalling cannot fail.
		panic(fmt.Sprintf("setup: marshal policy: %v", err))
	}
	return string(b)
}

// account is where the role and function live, from STS GetCallerIdentity.
type account struct {
	ID, Partition string
}

// trustPolicy lets Lambda assume the role. It has no aws:SourceAccount condition:
// Lambda does not document setting that key when it assumes an execution role, and
// iam:PassRole (which cannot cross accounts) already limits who can attach the role.
func trustPolicy() policyDocument {
	return policyDocument{
		Version: "2012-10-17",
		Statement: []statement{{
			Effect:    "Allow",
			Principal: map[string]any{"Service": "lambda.amazonaws.com"},
			Action:    []string{"sts:AssumeRole"},
		}},
	}
}

// rolePolicy is the least-privilege inline policy of the function's role, the same
// rights deploy/template.yaml grants.
func rolePolicy(acct account, o *Options) policyDocument {
	p := acct.Partition
	logGroup := fmt.Sprintf("arn:%s:logs:%s:%s:log-group:/aws/lambda/%s", p, o.Region, acct.ID, o.FunctionName)
	st := []statement{
		{
			// Lambda creates its log group on first use; setup does not create it, so the
			// role may create exactly this group and write only to it.
			Sid:      "OwnLogGroup",
			Effect:   "Allow",
			Action:   []string{"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"},
			Resource: []string{logGroup, logGroup + ":*"},
		},
		{
			// The job-result actions cannot be scoped to a pipeline: "*" is the only option.
			Sid:      "JobResults",
			Effect:   "Allow",
			Action:   []string{"codepipeline:PutJobSuccessResult", "codepipeline:PutJobFailureResult"},
			Resource: []string{"*"},
		},
	}
	if o.RoleARN != "" {
		// The distributions (and the site bucket) are in the role's account: the
		// function only needs to assume it.
		st = append(st, statement{Sid: "CrossAccountRole", Effect: "Allow", Action: []string{"sts:AssumeRole"}, Resource: []string{o.RoleARN}})
	} else {
		var dists []string
		for _, id := range o.DistributionIDs {
			dists = append(dists, fmt.Sprintf("arn:%s:cloudfront::%s:distribution/%s", p, acct.ID, id))
		}
		actions := []string{"cloudfront:CreateInvalidation", "cloudfront:GetInvalidation", "cloudfront:ListInvalidations"}
		if o.Verify || o.Bucket != "" {
			// Deploy mode maps the keys to URLs through the distribution's origins and
			// behaviors, and the check at the edge reads its domain: both read the
			// distribution's configuration.
			actions = append(actions, "cloudfront:GetDistribution")
		}
		st = append(st, statement{
			Sid:      "Invalidate",
			Effect:   "Allow",
			Action:   actions,
			Resource: dists,
		})
		if len(o.TenantIDs) > 0 {
			st = append(st, tenantStatements(p, acct.ID, o.TenantIDs, o.Bucket != "")...)
		}
		if o.Bucket != "" {
			st = append(st,
				statement{Sid: "SiteBucketList", Effect: "Allow", Action: []string{"s3:ListBucket"}, Resource: []string{fmt.Sprintf("arn:%s:s3:::%s", p, o.Bucket)}},
				statement{Sid: "SiteBucketObjects", Effect: "Allow", Action: []string{"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"}, Resource: []string{fmt.Sprintf("arn:%s:s3:::%s/*", p, o.Bucket)}},
			)
		}
		if o.KvsARN != "" {
			// Release mode: read the store's ETag and the current release, write the
			// switch; nothing else of the store, no other store. (Cross-account, the
			// other account's role needs these, as it needs the S3 rights.)
			st = append(st, statement{Sid: "ReleaseSwitch", Effect: "Allow",
				Action:   []string{"cloudfront-keyvaluestore:DescribeKeyValueStore", "cloudfront-keyvaluestore:GetKey", "cloudfront-keyvaluestore:PutKey"},
				Resource: []string{o.KvsARN}})
		}
	}
	if o.SlackWebhookParameter != "" {
		st = append(st, statement{
			Sid:      "SlackWebhookParameter",
			Effect:   "Allow",
			Action:   []string{"ssm:GetParameter"},
			Resource: []string{fmt.Sprintf("arn:%s:ssm:%s:%s:parameter%s", p, o.Region, acct.ID, o.SlackWebhookParameter)},
		})
	}
	return policyDocument{Version: "2012-10-17", Statement: st}
}

// samePolicy compares a policy document returned by IAM with ours. IAM returns documents
// URL-encoded (RFC 3986); both are compared as JSON values so that formatting and key
// order do not count as a change.
func samePolicy(stored string, want policyDocument) bool {
	if !strings.HasPrefix(strings.TrimSpace(stored), "{") {
		if dec, err := url.PathUnescape(stored); err == nil {
			stored = dec
		}
	}
	var got, exp any
	if err := json.Unmarshal([]byte(stored), &got); err != nil {
		return false
	}
	if err := json.Unmarshal([]byte(want.json()), &exp); err != nil {
		return false
	}
	return reflect.DeepEqual(got, exp)
}
