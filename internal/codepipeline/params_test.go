package codepipeline

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestParseParamsSeed(t *testing.T) {
	p, err := ParseParams(`{"PipelineName": "site-pipeline", "DistributionId": "E2EXAMPLE12345"}`)
	if err != nil {
		t.Fatal(err)
	}
	if p.PipelineName != "site-pipeline" || fmt.Sprint(p.DistributionIDs) != "[E2EXAMPLE12345]" || fmt.Sprint(p.Paths) != "[/*]" ||
		!p.Wait || p.MaxWaitMinutes != 30 || p.DeployMode() || p.Notify() {
		t.Fatalf("defaults wrong: %+v", p)
	}
}

func TestParseParamsDeployDefaults(t *testing.T) {
	p, err := ParseParams(`{"DistributionId":"E1","Bucket":"site"}`)
	if err != nil {
		t.Fatal(err)
	}
	if p.MaxDeletes != DefaultMaxDeletes || p.KeepRemoved != DefaultKeepRemoved {
		t.Errorf("defaults: MaxDeletes %d KeepRemoved %s", p.MaxDeletes, p.KeepRemoved)
	}
	// 0 allows no delete, as --max-deletes 0 in the CLI; -1 no limit.
	for in, want := range map[string]int{`0`: 0, `-1`: -1} {
		p, err := ParseParams(`{"DistributionId":"E1","Bucket":"site","MaxDeletes":` + in + `,"KeepRemoved":"0"}`)
		if err != nil || p.MaxDeletes != want || p.KeepRemoved != 0 {
			t.Errorf("MaxDeletes %s: %d %s %v", in, p.MaxDeletes, p.KeepRemoved, err)
		}
	}
}

func TestParseParamsAllKeys(t *testing.T) {
	p, err := ParseParams(`{"PipelineName":"p","DistributionId":"E1","DistributionIds":["E2","E1","E2"],"Paths":["/a b.html","/é","/x/*","/a b.html"],
		"Wait":false,"MaxWaitMinutes":90,"Bucket":"site","Prefix":"www/","Config":"conf/.edgeflush.yaml","MaxDeletes":10,"MaxPaths":20,
		"SlackWebhookParameter":"/hook","RoleArn":"arn:aws:iam::1:role/r","ExternalId":"xid"}`)
	if err == nil {
		t.Fatal("Paths with Bucket must be rejected")
	}
	p, err = ParseParams(`{"PipelineName":"p","DistributionId":"E1","DistributionIds":["E2","E1","E2"],
		"Wait":false,"MaxWaitMinutes":90,"Bucket":"site","Prefix":"www/","Config":"conf/.edgeflush.yaml","MaxDeletes":10,"MaxPaths":20,
		"KeepRemoved":"90m","SlackWebhookParameter":"/hook","RoleArn":"arn:aws:iam::1:role/r","ExternalId":"xid"}`)
	if err != nil {
		t.Fatal(err)
	}
	want := Params{PipelineName: "p", DistributionIDs: []string{"E1", "E2"}, Paths: []string{"/*"}, Wait: false, MaxWaitMinutes: 90,
		Bucket: "site", Prefix: "www/", Config: "conf/.edgeflush.yaml", MaxDeletes: 10, MaxPaths: 20, KeepRemoved: 90 * time.Minute,
		SlackWebhookParameter: "/hook", RoleARN: "arn:aws:iam::1:role/r", ExternalID: "xid"}
	if len(p.Given) != 14 || !p.Given["KeepRemoved"] || p.Given["Paths"] {
		t.Errorf("Given %v", p.Given)
	}
	p.Given = nil
	if fmt.Sprintf("%#v", p) != fmt.Sprintf("%#v", want) {
		t.Fatalf("got  %#v\nwant %#v", p, want)
	}
	p, err = ParseParams(`{"DistributionIds":["E1"],"Paths":["/a b.html","/é","/x/*","/a b.html"],"SlackWebhookUrl":"https://hooks.slack.com/services/T/B/X"}`)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(p.Paths) != "[/a%20b.html /%C3%A9 /x/*]" || p.SlackWebhookURL != "https://hooks.slack.com/services/T/B/X" {
		t.Fatalf("got %+v", p)
	}
}

func TestParseParamsErrors(t *testing.T) {
	long := `{"DistributionId":"E1","Paths":["/` + strings.Repeat("x", 990) + `"]}`
	cases := []struct {
		in, key string
		says    []string
	}{
		{``, "", []string{"empty", "DistributionId"}},
		{`   `, "", []string{"empty"}},
		{`null`, "", []string{"not a JSON object"}},
		{`"E1"`, "", []string{"not a JSON object"}},
		{`{DistributionId: "E1"}`, "", []string{"not valid JSON", "double quotes"}},
		{`{"DistributionId": "E1"} x`, "", []string{"after the JSON object"}},
		{`{"DistributionId": "E1"}{}`, "", []string{"after the JSON object"}},
		{`{"DistributionId": "E1", "DistributionId": "E2"}`, "DistributionId", []string{"twice"}},
		{long, "", []string{"1000"}},
		{`{"DistributionID":"E1"}`, "DistributionID", []string{`did you mean "DistributionId"`}},
		{`{"DistributionId":"E1","Path":["/a"]}`, "Path", []string{`did you mean "Paths"`}},
		{`{"DistributionId":"E1","SlackWebhookURL":"https://x"}`, "SlackWebhookURL", []string{`did you mean "SlackWebhookUrl"`}},
		{`{"DistributionId":"E1","Colour":"red"}`, "Colour", []string{"the keys are", "MaxWaitMinutes"}},
		{`{"DistributionId":["E1"]}`, "DistributionId", []string{"must be a string, not a list", `"DistributionId": "E2EXAMPLE12345"`}},
		{`{"DistributionIds":"E1"}`, "DistributionIds", []string{"must be a list of strings, not a string"}},
		{`{"DistributionIds":[1]}`, "DistributionIds", []string{"list of strings"}},
		{`{"DistributionIds":[]}`, "DistributionId", []string{"no distribution"}},
		{`{"DistributionId":""}`, "DistributionId", []string{"empty"}},
		{`{"DistributionId":null}`, "DistributionId", []string{"not null"}},
		{`{"DistributionId":"e2example-123"}`, "DistributionId", []string{"not a distribution ID"}},
		{`{"DistributionId":"arn:aws:cloudfront::123456789012:distribution/E2EXAMPLE12345"}`, "DistributionId", []string{`write the ID only: "E2EXAMPLE12345"`}},
		{`{"DistributionId":"d111111abcdef8.cloudfront.net"}`, "DistributionId", []string{"domain name"}},
		{`{"DistributionIds":["E1"," E2"]}`, "DistributionIds", []string{"remove the spaces"}},
		{`{"DistributionId":"E1","Paths":[]}`, "Paths", []string{"empty list"}},
		{`{"DistributionId":"E1","Paths":["index.html"]}`, "Paths", []string{`"/index.html"`}},
		{`{"DistributionId":"E1","Paths":["/a*b"]}`, "Paths", []string{"last character"}},
		{`{"DistributionId":"E1","Paths":"/*"}`, "Paths", []string{"list of strings, not a string"}},
		{`{"DistributionId":"E1","Paths":["/a*","/b*","/c*","/d*","/e*","/f*","/g*","/h*","/i*","/j*","/k*","/l*","/m*","/n*","/o*","/p*"]}`, "Paths", []string{"16 wildcard", "at most 3000 exact and 15 wildcard"}},
		{`{"DistributionId":"E1","Wait":"false"}`, "Wait", []string{"true or false (without quotes), not a string"}},
		{`{"DistributionId":"E1","MaxWaitMinutes":"30"}`, "MaxWaitMinutes", []string{"whole number"}},
		{`{"DistributionId":"E1","MaxWaitMinutes":1.5}`, "MaxWaitMinutes", []string{"whole number"}},
		{`{"DistributionId":"E1","MaxWaitMinutes":1e30}`, "MaxWaitMinutes", []string{"whole number"}},
		{`{"DistributionId":"E1","MaxWaitMinutes":0}`, "MaxWaitMinutes", []string{"between 1 and 1440"}},
		{`{"DistributionId":"E1","MaxWaitMinutes":2000}`, "MaxWaitMinutes", []string{"between 1 and 1440"}},
		{`{"DistributionId":"E1","Prefix":"www/"}`, "Prefix", []string{"deploy mode", "Bucket"}},
		{`{"DistributionId":"E1","MaxDeletes":3}`, "MaxDeletes", []string{"deploy mode"}},
		{`{"DistributionId":"E1","Bucket":""}`, "Bucket", []string{"empty"}},
		{`{"DistributionId":"E1","Bucket":"s3://site/www"}`, "Bucket", []string{`"site"`, "Prefix"}},
		{`{"DistributionId":"E1","Bucket":"site","Prefix":"/www"}`, "Prefix", []string{`"www"`}},
		{`{"DistributionId":"E1","Bucket":"site","MaxDeletes":-2}`, "MaxDeletes", []string{"-1 (no limit)"}},
		{`{"DistributionId":"E1","Bucket":"site","KeepRemoved":24}`, "KeepRemoved", []string{"duration string", `"24h"`}},
		{`{"DistributionId":"E1","Bucket":"site","KeepRemoved":"1 day"}`, "KeepRemoved", []string{"not a duration"}},
		{`{"DistributionId":"E1","KeepRemoved":"1h"}`, "KeepRemoved", []string{"only applies in deploy mode"}},
		{`{"DistributionId":"E1","Bucket":"site","MaxPaths":-1}`, "MaxPaths", []string{"0 (the default) to 3000"}},
		{`{"DistributionId":"E1","Bucket":"site","MaxPaths":3001}`, "MaxPaths", []string{"0 (the default) to 3000"}},
		{`{"DistributionId":"E1","Bucket":"site","Paths":["/*"]}`, "Paths", []string{"cannot be combined with Bucket"}},
		{`{"DistributionId":"E1","SlackWebhookUrl":"hooks.slack.com/services/SECRET"}`, "SlackWebhookUrl", []string{"not a URL"}},
		{`{"DistributionId":"E1","SlackWebhookUrl":"https://h/SECRET","SlackWebhookParameter":"/p"}`, "SlackWebhookUrl", []string{"not both"}},
		{`{"DistributionId":"E1","SlackWebhookParameter":" "}`, "SlackWebhookParameter", []string{"SSM SecureString"}},
		{`{"DistributionId":"E1","RoleArn":"edgeflush-role"}`, "RoleArn", []string{"not an IAM role ARN"}},
		{`{"DistributionId":"E1","ExternalId":"abc"}`, "ExternalId", []string{"only applies with RoleArn"}},
		{`{"DistributionId":"E1","RoleArn":"arn:aws:iam::1:role/r","ExternalId":"a"}`, "ExternalId", []string{"2 to 1224"}},
		{"{\"DistributionId\":\"E1\",\"PipelineName\":\"\xff\"}", "", []string{"UTF-8"}},
		{`{"DistributionId":"E1","Verify":true}`, "Verify", []string{"needs deploy mode", `"Bucket": "my-site-bucket"`}},
		{`{"DistributionId":"E1","Bucket":"site","Verify":true,"Wait":false}`, "Verify", []string{`"Wait": false`}},
		{`{"DistributionId":"E1","Bucket":"site","Verify":"yes"}`, "Verify", []string{"true or false"}},
		{`{"DistributionId":"E1","Bucket":"site","VerifyBaseUrl":"https://www.example.com"}`, "VerifyBaseUrl", []string{"only applies with", `"Verify": true`}},
		{`{"DistributionId":"E1","Bucket":"site","Verify":true,"VerifyBaseUrl":"www.example.com"}`, "VerifyBaseUrl", []string{"not a base URL"}},
		{`{"DistributionId":"E1","Bucket":"site","Verify":true,"VerifyBaseUrl":"https://www.example.com/docs/"}`, "VerifyBaseUrl", []string{"scheme and host only"}},
		{`{"DistributionIds":["E1","E2"],"Bucket":"site","Verify":true,"VerifyBaseUrl":"https://www.example.com"}`, "VerifyBaseUrl", []string{"2 distributions"}},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			_, err := ParseParams(c.in)
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("want *ConfigError, got %v", err)
			}
			if ce.Key != c.key {
				t.Errorf("key = %q, want %q (%v)", ce.Key, c.key, err)
			}
			if c.key != "" && !strings.Contains(err.Error(), `"`+c.key+`"`) {
				t.Errorf("message %q does not name the key", err)
			}
			for _, s := range c.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("message %q lacks %q", err, s)
				}
			}
			if strings.Contains(err.Error(), "SECRET") {
				t.Errorf("message echoes the webhook URL: %q", err)
			}
		})
	}
}

func TestParseParamsVerify(t *testing.T) {
	p, err := ParseParams(`{"DistributionId":"E1","Bucket":"site","Verify":true,"VerifyBaseUrl":"http://127.0.0.1:8080"}`)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Verify || p.VerifyBaseURL != "http://127.0.0.1:8080" || !p.Wait {
		t.Fatalf("got %+v", p)
	}
}

func TestParseParamsLimitCountsCharacters(t *testing.T) {
	// 1000 characters are allowed even when some take several bytes.
	base := `{"DistributionId":"E1","PipelineName":"`
	s := base + strings.Repeat("é", 1000-len(base)-2) + `"}`
	if _, err := ParseParams(s); err != nil {
		t.Fatalf("%d characters rejected: %v", len([]rune(s)), err)
	}
}
