package codepipeline

import (
	"errors"
	"net"
	"net/url"
	"strings"
)

// CheckWebhookURL is the one rule for a Slack webhook URL, applied when UserParameters
// are parsed (SlackWebhookUrl), when the URL is read from SSM, and before every post:
// https, or plain http to a loopback address (local test servers only: a real webhook
// over plain HTTP would expose the secret in its path). Its errors never echo the URL,
// which is a secret.
func CheckWebhookURL(raw string) error {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" {
		return errors.New("the Slack webhook URL is not a URL (expected https://hooks.slack.com/services/...)")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if ip := net.ParseIP(u.Hostname()); (ip != nil && ip.IsLoopback()) || u.Hostname() == "localhost" {
			return nil
		}
	}
	return errors.New("the Slack webhook URL must use https")
}
