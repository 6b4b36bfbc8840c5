package notify

import (
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// Slack's limits for the parts of a message (Block Kit reference).
const (
	maxHeader      = 150
	maxSectionText = 3000
	maxFieldText   = 2000
	maxShownPaths  = 20
)

// SlackPayload is an incoming-webhook body: Text is the notification fallback (and what
// clients without Block Kit show), Blocks the formatted message.
type SlackPayload struct {
	Text   string  `json:"text"`
	Blocks []Block `json:"blocks,omitempty"`
}

// Block is one Block Kit block (header, section or context).
type Block struct {
	Type     string  `json:"type"`
	Text     *Text   `json:"text,omitempty"`
	Fields   []*Text `json:"fields,omitempty"`
	Elements []*Text `json:"elements,omitempty"`
}

// Text is a Block Kit text object.
type Text struct {
	Type string `json:"type"` // plain_text or mrkdwn
	Text string `json:"text"`
}

// Payload builds the webhook body for m.
func Payload(m Message) SlackPayload {
	pipeline := m.Pipeline
	if pipeline == "" {
		pipeline = "pipeline"
	}
	var headline, fallback string
	switch {
	case m.Succeeded && m.NotWaited:
		headline = "✅ " + pipeline + ": CloudFront invalidation started"
		fallback = fmt.Sprintf("✅ %s: CloudFront invalidation started (not waited for) on %s", pipeline, listOr(m.Distributions, "no distribution"))
		if n := len(m.InvalidationIDs); n > 0 {
			fallback += fmt.Sprintf(" (%d %s)", n, plural(n, "invalidation"))
		}
	case m.Succeeded:
		headline = "✅ " + pipeline + ": CloudFront cache invalidated"
		fallback = fmt.Sprintf("✅ %s: CloudFront invalidation done for %s", pipeline, listOr(m.Distributions, "no distribution"))
		if n := len(m.InvalidationIDs); n > 0 {
			fallback += fmt.Sprintf(" (%d %s", n, plural(n, "invalidation"))
			if m.Waited > 0 {
				fallback += ", waited " + duration(m.Waited)
			}
			fallback += ")"
		}
	default:
		headline = "❌ " + pipeline + ": edgeflush failed"
		fallback = fmt.Sprintf("❌ %s: edgeflush failed: %s", pipeline, orDefault(m.Reason, "no reason given"))
	}

	fields := []*Text{mrkdwn("*Distributions*\n" + escape(listOr(m.Distributions, "none")))}
	if len(m.InvalidationIDs) > 0 {
		fields = append(fields, mrkdwn("*Invalidations*\n"+escape(strings.Join(m.InvalidationIDs, ", "))))
	}
	if m.Waited > 0 {
		fields = append(fields, mrkdwn("*Waited*\n"+duration(m.Waited)))
	}
	if m.JobID != "" {
		fields = append(fields, mrkdwn("*Job*\n`"+escape(m.JobID)+"`"))
	}
	for _, f := range fields {
		f.Text = truncate(f.Text, maxFieldText)
	}

	blocks := []Block{
		{Type: "header", Text: &Text{Type: "plain_text", Text: truncate(headline, maxHeader)}},
		{Type: "section", Fields: fields},
	}
	if len(m.Paths) > 0 {
		blocks = append(blocks, Block{Type: "section", Text: mrkdwn(truncate("*Paths*\n"+pathList(m.Paths), maxSectionText))})
	}
	if !m.Succeeded {
		reason := orDefault(m.Reason, "no reason given")
		// A code block keeps the error's own punctuation from being read as markup.
		blocks = append(blocks, Block{Type: "section", Text: mrkdwn("*Reason*\n```" + truncate(escape(reason), maxSectionText-20) + "```")})
	}
	if link := consoleLink(m); link != "" {
		blocks = append(blocks, Block{Type: "context", Elements: []*Text{mrkdwn("<" + link + "|Open the pipeline in the AWS console>")}})
	}
	return SlackPayload{Text: truncate(fallback, maxSectionText), Blocks: blocks}
}

func pathList(paths []string) string {
	shown := paths
	if len(shown) > maxShownPaths {
		shown = shown[:maxShownPaths]
	}
	parts := make([]string, len(shown))
	for i, p := range shown {
		parts[i] = "`" + escape(p) + "`"
	}
	s := strings.Join(parts, " ")
	if more := len(paths) - len(shown); more > 0 {
		s += fmt.Sprintf(" … and %d more", more)
	}
	return s
}

func consoleLink(m Message) string {
	if m.Region == "" || m.Pipeline == "" {
		return ""
	}
	return fmt.Sprintf("https://%s.console.aws.amazon.com/codesuite/codepipeline/pipelines/%s/view?region=%s",
		url.PathEscape(m.Region), url.PathEscape(m.Pipeline), url.QueryEscape(m.Region))
}

func mrkdwn(s string) *Text { return &Text{Type: "mrkdwn", Text: s} }

// escape applies Slack's mrkdwn escaping: &, < and > are control characters.
func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// truncate cuts s to at most n characters (runes), marking the cut with "…".
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func duration(d time.Duration) string {
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

func listOr(items []string, empty string) string {
	if len(items) == 0 {
		return empty
	}
	return strings.Join(items, ", ")
}

func orDefault(s, def string) string {
	if strings.TrimSpace(s) == "" {
		return def
	}
	return s
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
