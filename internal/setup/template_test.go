package setup

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// renderScript expands deploy/template.yaml the way CloudFormation would for each set
// of parameter values (AWS::LanguageExtensions' Fn::ForEach, then the SAM transform),
// using cfn-lint's transforms, and prints the resulting templates as a JSON list. One
// Python process for all sets: importing cfn-lint takes seconds.
const renderScript = `
import json, sys
from cfnlint.decode import decode_str
from cfnlint.template import Template
from cfnlint.template.transforms.transform import Transform
path, sets = sys.argv[1], json.loads(sys.argv[2])
out = []
for params in sets:
    tpl, matches = decode_str(open(path).read())
    if matches:
        sys.exit("decode: %s" % matches)
    for k, v in params.items():
        tpl["Parameters"][k]["Default"] = v   # ForEach expands over the parameter's value
    cfn = Template(path, tpl, regions=["us-east-1"])
    matches = Transform().transform(cfn)
    if matches:
        sys.exit("transform: %s" % matches)
    out.append(cfn.template)
print(json.dumps(out, default=str))
`

// renderTemplates returns the expanded templates, or skips when cfn-lint's Python
// package is not installed (CI installs it: `make lint` runs cfn-lint).
func renderTemplates(t *testing.T, sets []map[string]string) []map[string]any {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not installed")
	}
	if err := exec.Command("python3", "-c", "import cfnlint.template.transforms.transform").Run(); err != nil {
		t.Skip("cfn-lint's Python package is not installed (pip install cfn-lint)")
	}
	p, err := json.Marshal(sets)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("python3", "-c", renderScript, "../../deploy/template.yaml", string(p)).Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("render the template: %v\n%s", err, stderr)
	}
	var tpls []map[string]any
	if err := json.Unmarshal(out, &tpls); err != nil {
		t.Fatal(err)
	}
	if len(tpls) != len(sets) {
		t.Fatalf("rendered %d templates for %d parameter sets", len(tpls), len(sets))
	}
	return tpls
}

// evaluator resolves the few intrinsic functions the role's policies use, with the
// parameter values of one deployment in account 123456789012, us-east-1.
type evaluator struct {
	t          *testing.T
	params     map[string]string
	conditions map[string]any
	refs       map[string]string // logical id -> Ref value
}

var subVar = regexp.MustCompile(`\$\{([^}]+)\}`)

func (e *evaluator) ref(name string) any {
	switch name {
	case "AWS::Partition":
		return "aws"
	case "AWS::AccountId":
		return "123456789012"
	case "AWS::Region":
		return "us-east-1"
	case "AWS::NoValue":
		return nil
	}
	if v, ok := e.params[name]; ok {
		return v
	}
	if v, ok := e.refs[name]; ok {
		return v
	}
	e.t.Fatalf("unresolved Ref %s", name)
	return nil
}

func (e *evaluator) condition(name string) bool {
	c, ok := e.conditions[name]
	if !ok {
		e.t.Fatalf("unknown condition %s", name)
	}
	b, _ := e.eval(c).(bool)
	return b
}

func (e *evaluator) eval(v any) any {
	switch x := v.(type) {
	case []any:
		var out []any
		for _, item := range x {
			if r := e.eval(item); r != nil {
				out = append(out, r)
			}
		}
		return out
	case map[string]any:
		if len(x) == 1 {
			for k, arg := range x {
				switch k {
				case "Ref":
					return e.ref(arg.(string))
				case "Condition":
					return e.condition(arg.(string))
				case "Fn::Equals":
					a := arg.([]any)
					return fmt.Sprint(e.eval(a[0])) == fmt.Sprint(e.eval(a[1]))
				case "Fn::Not":
					return !e.eval(arg.([]any)[0]).(bool)
				case "Fn::Or":
					for _, c := range arg.([]any) {
						if e.eval(c).(bool) {
							return true
						}
					}
					return false
				case "Fn::And":
					for _, c := range arg.([]any) {
						if !e.eval(c).(bool) {
							return false
						}
					}
					return true
				case "Fn::GetAtt":
					// Stands for the attribute of a resource of the same template.
					return "GetAtt:" + strings.Join(asList(arg), ".")
				case "Fn::Join":
					a := arg.([]any)
					var parts []string
					for _, item := range asList(e.eval(a[1])) {
						parts = append(parts, item)
					}
					return strings.Join(parts, a[0].(string))
				case "Fn::If":
					a := arg.([]any)
					if e.condition(a[0].(string)) {
						return e.eval(a[1])
					}
					return e.eval(a[2])
				case "Fn::Sub":
					s, ok := arg.(string)
					if !ok {
						e.t.Fatalf("Fn::Sub with variables is not needed by the policies: %v", arg)
					}
					return subVar.ReplaceAllStringFunc(s, func(m string) string { return fmt.Sprint(e.ref(m[2 : len(m)-1])) })
				}
			}
		}
		out := map[string]any{}
		for k, item := range x {
			if r := e.eval(item); r != nil {
				out[k] = r
			}
		}
		return out
	}
	return v
}

// grants flattens the policies attached to the role into "action on resource" strings.
func grants(t *testing.T, tpl map[string]any, params map[string]string) []string {
	t.Helper()
	resources := tpl["Resources"].(map[string]any)
	e := &evaluator{t: t, params: params, conditions: tpl["Conditions"].(map[string]any),
		refs: map[string]string{"LogGroup": "/aws/lambda/" + params["FunctionName"], "Role": "edgeflush-Role-X"}}
	var docs []any
	for id, r := range resources {
		res := r.(map[string]any)
		if c, ok := res["Condition"].(string); ok && !e.condition(c) {
			continue
		}
		props, _ := res["Properties"].(map[string]any)
		switch res["Type"] {
		case "AWS::IAM::Role":
			for _, p := range props["Policies"].([]any) {
				docs = append(docs, p.(map[string]any)["PolicyDocument"])
			}
		case "AWS::IAM::RolePolicy":
			if rn := e.eval(props["RoleName"]); rn != "edgeflush-Role-X" {
				t.Errorf("%s is attached to %v, not the function's role", id, rn)
			}
			docs = append(docs, props["PolicyDocument"])
		}
	}
	var out []string
	for _, d := range docs {
		doc := e.eval(d).(map[string]any)
		for _, s := range doc["Statement"].([]any) {
			st := s.(map[string]any)
			if st["Effect"] != "Allow" {
				t.Errorf("statement %v is not an Allow", st)
			}
			for _, a := range asList(st["Action"]) {
				for _, r := range asList(st["Resource"]) {
					out = append(out, a+" on "+r)
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

func asList(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var s []string
		for _, i := range x {
			s = append(s, fmt.Sprint(i))
		}
		return s
	}
	return nil
}

// setupGrants flattens setup's policy the same way.
func setupGrants(o *Options) []string {
	var out []string
	for _, st := range rolePolicy(account{ID: "123456789012", Partition: "aws"}, o).Statement {
		for _, a := range st.Action {
			for _, r := range st.Resource {
				out = append(out, a+" on "+r)
			}
		}
	}
	slices.Sort(out)
	return out
}

// TestTemplateGrantsWhatSetupGrants expands the SAM template for several deployments and
// checks that its role gets exactly setup's least-privilege rights — one CloudFront grant
// per distribution id however many there are, S3 and SSM only when asked — apart from
// logs:CreateLogGroup, which setup needs because Lambda creates the group there while the
// template creates the group itself.
func TestTemplateGrantsWhatSetupGrants(t *testing.T) {
	cases := []struct {
		name   string
		params map[string]string
		opts   Options
	}{
		{"one distribution", map[string]string{"DistributionIds": "E1AAA"}, Options{DistributionIDs: []string{"E1AAA"}}},
		{"five distributions", map[string]string{"DistributionIds": "E1AAA,E2BBB,E3CCC,E4DDD,E5EEE"},
			Options{DistributionIDs: []string{"E1AAA", "E2BBB", "E3CCC", "E4DDD", "E5EEE"}}},
		{"deploy mode and Slack", map[string]string{"DistributionIds": "E1AAA,E2BBB", "SiteBucket": "www.example.com", "SlackWebhookParameter": "/edgeflush/slack-webhook", "FunctionName": "site-flush"},
			Options{DistributionIDs: []string{"E1AAA", "E2BBB"}, Bucket: "www.example.com", SlackWebhookParameter: "/edgeflush/slack-webhook", FunctionName: "site-flush"}},
		{"deploy mode with verify", map[string]string{"DistributionIds": "E1AAA,E2BBB", "SiteBucket": "www.example.com", "Verify": "true"},
			Options{DistributionIDs: []string{"E1AAA", "E2BBB"}, Bucket: "www.example.com", Verify: true}},
		{"two tenants", map[string]string{"DistributionIds": "E1AAA", "DistributionTenantIds": "dt_2wjDZi3hD1ivOXf6rpZJ0HVZhB1,dt_abc"},
			Options{DistributionIDs: []string{"E1AAA"}, TenantIDs: []string{"dt_2wjDZi3hD1ivOXf6rpZJ0HVZhB1", "dt_abc"}}},
		{"tenants in deploy mode", map[string]string{"DistributionIds": "E1AAA", "DistributionTenantIds": "dt_abc", "SiteBucket": "www.example.com"},
			Options{DistributionIDs: []string{"E1AAA"}, TenantIDs: []string{"dt_abc"}, Bucket: "www.example.com"}},
		{"releases", map[string]string{"DistributionIds": "E1AAA", "SiteBucket": "www.example.com", "Releases": "true"},
			Options{DistributionIDs: []string{"E1AAA"}, Bucket: "www.example.com", KvsARN: "GetAtt:ReleaseStore.Arn"}},
	}
	var sets []map[string]string
	for _, tc := range cases {
		if tc.params["FunctionName"] == "" {
			tc.params["FunctionName"] = "edgeflush"
		}
		if _, ok := tc.params["DistributionTenantIds"]; !ok {
			tc.params["DistributionTenantIds"] = "" // as CloudFormation passes the default
		}
		sets = append(sets, tc.params)
	}
	tpls := renderTemplates(t, sets)
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tpl := tpls[i]
			all := map[string]string{"FunctionName": "edgeflush", "DistributionTenantIds": "", "SiteBucket": "", "ArtifactBucket": "", "Verify": "false", "CrossAccountRoleArn": "",
				"SlackWebhookParameter": "", "PipelineName": "", "NotificationTargetArn": "", "NotificationTargetType": "AWSChatbotSlack", "Releases": "false"}
			for k, v := range tc.params {
				all[k] = v
			}
			got := grants(t, tpl, all)

			o := tc.opts
			o.Pipeline, o.Region = "site", "us-east-1"
			if err := o.normalize(); err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, g := range setupGrants(&o) {
				if !strings.HasPrefix(g, "logs:CreateLogGroup ") && !strings.HasSuffix(g, ":log-group:/aws/lambda/"+o.FunctionName) {
					want = append(want, g)
				}
			}
			getDist := "cloudfront:GetDistribution on arn:aws:cloudfront::123456789012:distribution/E1AAA"
			if slices.Contains(got, getDist) != (o.Verify || o.Bucket != "") {
				t.Errorf("verify %v, deploy mode %v, but the template grants %q: %v", o.Verify, o.Bucket != "", getDist, slices.Contains(got, getDist))
			}
			if !slices.Equal(got, want) {
				t.Errorf("template grants:\n  %s\nsetup grants:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
			}
			// And the function itself.
			fn := tpl["Resources"].(map[string]any)["Function"].(map[string]any)["Properties"].(map[string]any)
			if fn["Runtime"] != Runtime || fn["Handler"] != Handler || fmt.Sprint(fn["Timeout"]) != "300" || fmt.Sprint(fn["Architectures"]) != "[arm64]" {
				t.Errorf("function properties = %v", fn)
			}
		})
	}
}
