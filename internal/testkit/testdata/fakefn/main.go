// Command fakefn is a minimal CodePipeline job worker used to test the test kit itself
// (RIE runner, driver, job API) without the real edgeflush handler. UserParameters:
// {"Mode":"success"|"fail"|"error"|"continue","Continuations":N}.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"strconv"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline/types"
)

type params struct {
	Mode          string
	Continuations int
}

func handle(ctx context.Context, ev events.CodePipelineJobEvent) error {
	job := ev.CodePipelineJob
	log.Printf("fakefn job=%s token=%q", job.ID, job.Data.ContinuationToken)
	var p params
	if err := json.Unmarshal([]byte(job.Data.ActionConfiguration.Configuration.UserParameters), &p); err != nil {
		return fmt.Errorf("parse user parameters: %w", err)
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return err
	}
	cp := codepipeline.NewFromConfig(cfg)
	switch p.Mode {
	case "error":
		return errors.New("fakefn asked to fail the invocation")
	case "fail":
		_, err = cp.PutJobFailureResult(ctx, &codepipeline.PutJobFailureResultInput{
			JobId:          aws.String(job.ID),
			FailureDetails: &types.FailureDetails{Type: types.FailureTypeConfigurationError, Message: aws.String("fakefn failed")},
		})
	case "continue":
		n, _ := strconv.Atoi(job.Data.ContinuationToken)
		if n < p.Continuations {
			_, err = cp.PutJobSuccessResult(ctx, &codepipeline.PutJobSuccessResultInput{
				JobId: aws.String(job.ID), ContinuationToken: aws.String(strconv.Itoa(n + 1)),
			})
			break
		}
		fallthrough
	default:
		_, err = cp.PutJobSuccessResult(ctx, &codepipeline.PutJobSuccessResultInput{
			JobId:            aws.String(job.ID),
			ExecutionDetails: &types.ExecutionDetails{Summary: aws.String("fakefn done")},
			OutputVariables:  map[string]string{"Done": "yes"},
		})
	}
	if err != nil {
		log.Printf("fakefn report: %v", err)
	}
	return nil
}

func main() { lambda.Start(handle) }
