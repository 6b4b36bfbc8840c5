package notify

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/edgeflush/edgeflush/internal/codepipeline"
)

// FromConfig is NewFactory with an SSM client built from cfg (the function's own
// identity: the parameter lives in the pipeline's account, even in a cross-account setup)
// and cfg's region for the console link.
func FromConfig(cfg aws.Config) codepipeline.NotifierFactory {
	return NewFactory(ssm.NewFromConfig(cfg), cfg.Region)
}

// NewFactory returns the codepipeline.NotifierFactory the Lambda function uses: a Slack
// notifier for the job's SlackWebhookUrl, or for the URL held in its
// SlackWebhookParameter (read with api, decrypted, cached across warm invocations).
// region adds a console link to the pipeline; it may be empty.
func NewFactory(api SSMAPI, region string) codepipeline.NotifierFactory {
	resolver := &Resolver{API: api}
	return func(ctx context.Context, p codepipeline.Params) (codepipeline.Notifier, error) {
		webhook := p.SlackWebhookURL
		if webhook == "" {
			if p.SlackWebhookParameter == "" {
				return nil, errors.New("no Slack webhook configured")
			}
			if api == nil {
				return nil, errors.New("SlackWebhookParameter is set but this build has no SSM client")
			}
			var err error
			if webhook, err = resolver.WebhookURL(ctx, p.SlackWebhookParameter); err != nil {
				return nil, err
			}
		}
		if err := codepipeline.CheckWebhookURL(webhook); err != nil {
			return nil, err
		}
		return &PipelineNotifier{Slack: &Slack{WebhookURL: webhook}, Region: region}, nil
	}
}

// PipelineNotifier adapts Slack to codepipeline.Notifier.
type PipelineNotifier struct {
	Slack  *Slack
	Region string
}

// Notify posts the job's outcome.
func (n *PipelineNotifier) Notify(ctx context.Context, m codepipeline.Message) error {
	return n.Slack.Send(ctx, FromPipeline(m, n.Region))
}

// FromPipeline converts the handler's message.
func FromPipeline(m codepipeline.Message, region string) Message {
	return Message{
		Pipeline: m.Pipeline, JobID: m.JobID, Succeeded: m.Succeeded,
		Distributions: m.Distributions, Paths: m.Paths, InvalidationIDs: m.InvalidationIDs,
		Waited: m.Waited, Reason: m.Reason, NotWaited: m.NotWaited, Region: region,
	}
}
