package codepipeline

import (
	"strings"
	"testing"
)

func TestCheckWebhookURL(t *testing.T) {
	for _, ok := range []string{"https://hooks.slack.com/services/T/B/X", "http://127.0.0.1:8080/x", "http://localhost/x"} {
		if err := CheckWebhookURL(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "hooks.slack.com/services/SECRET", "http://hooks.slack.com/services/T/B/SECRET", "ftp://x/SECRET", "https://", "%zz/SECRET"} {
		for name, check := range map[string]func(string) error{
			"CheckWebhookURL": CheckWebhookURL,
			"ParseParams": func(u string) error {
				_, err := ParseParams(`{"DistributionId":"E1","SlackWebhookUrl":"` + u + `"}`)
				return err
			},
		} {
			err := check(bad)
			if err == nil {
				t.Errorf("%s accepted %q", name, bad)
				continue
			}
			if strings.Contains(err.Error(), "SECRET") {
				t.Errorf("%s echoes the URL: %v", name, err)
			}
		}
	}
}
