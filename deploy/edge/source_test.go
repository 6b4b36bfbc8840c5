package edge

import (
	"os"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestTemplateShipsThisSource: deploy/template.yaml inlines the function's code (a
// CloudFormation function cannot read a file); it must be releases.js byte for byte.
func TestTemplateShipsThisSource(t *testing.T) {
	b, err := os.ReadFile("../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	get := func(n *yaml.Node, key string) *yaml.Node {
		if n == nil || n.Kind != yaml.MappingNode {
			return nil
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				return n.Content[i+1]
			}
		}
		return nil
	}
	code := get(get(get(get(doc.Content[0], "Resources"), "ReleaseFunction"), "Properties"), "FunctionCode")
	if code == nil {
		t.Fatal("deploy/template.yaml has no Resources.ReleaseFunction.Properties.FunctionCode")
	}
	if strings.TrimRight(code.Value, "\n") != strings.TrimRight(string(ReleasesJS), "\n") {
		t.Error("deploy/template.yaml's ReleaseFunction code differs from deploy/edge/releases.js: copy the file into the template")
	}
	if m := get(get(get(get(doc.Content[0], "Resources"), "ReleaseFunction"), "Properties"), "FunctionConfig"); get(m, "Runtime").Value != Runtime {
		t.Errorf("template runtime %q, want %s", get(m, "Runtime").Value, Runtime)
	}
}

func TestGraceAndIDs(t *testing.T) {
	if !strings.Contains(string(ReleasesJS), "const ROOT = '/"+ReleasesDir+"';") {
		t.Errorf("releases.js's ROOT is not /%s", ReleasesDir)
	}
	if Grace().Hours() != 1 {
		t.Errorf("grace %s", Grace())
	}
	for id, ok := range map[string]bool{"20261207T061500Z-ab12cd": true, "job-1f0e": true, "": false, "../x": false, "a b": false, strings.Repeat("a", 65): false} {
		if ValidID(id) != ok {
			t.Errorf("ValidID(%q) = %v", id, !ok)
		}
	}
}
