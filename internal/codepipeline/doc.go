// Package codepipeline is the CodePipeline Invoke/Lambda action: it parses the job
// event and its UserParameters (every problem a ConfigurationError that names the key),
// creates one invalidation per distribution with a caller reference derived from the
// first job id (so a redelivered or retried event never creates a second one), polls
// within the invocation, and hands the whole state to the next job in a versioned,
// size-checked continuation token when CloudFront is not done yet. Every job gets
// exactly one result (PutJobSuccessResult with a summary and output variables, or
// PutJobFailureResult with ConfigurationError, PermissionError or JobFailed); errors are
// never returned to the Lambda runtime once a job id is known, since Lambda would retry
// the asynchronous invocation. The event and its artifact credentials are never logged.
//
// Deploy mode (Deployer) and notifications (Notifier) are hooks implemented elsewhere;
// cmd/edgeflush-lambda wires them.
package codepipeline
