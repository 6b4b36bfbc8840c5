"""The Python/boto3 side of the invocation benchmark (bench/invoke).

It does what the hand-made Python Lambda does, with the same calls the Go bootstrap makes
for a seed job whose invalidation completes at once: boto3 clients for CloudFront and
CodePipeline created at import time (as Lambda code does, so they are reused while warm),
then per event CreateInvalidation, GetInvalidation and PutJobSuccessResult.

The Python Lambda runtime interface client is not available on this machine, so this is
not run under the emulator: it reads one event per line on stdin and answers "ok" per
line on stdout. The benchmark measures process start to the first "ok" as the cold
invocation, and each later event's round trip as a warm one.
"""
import json
import sys

import boto3

cloudfront = boto3.client("cloudfront")
codepipeline = boto3.client("codepipeline")


def handler(event, _context=None):
    job = event["CodePipeline.job"]
    params = json.loads(job["data"]["actionConfiguration"]["configuration"]["UserParameters"])
    dist = params["DistributionId"]
    inv = cloudfront.create_invalidation(
        DistributionId=dist,
        InvalidationBatch={"Paths": {"Quantity": 1, "Items": ["/*"]}, "CallerReference": job["id"]},
    )["Invalidation"]
    status = cloudfront.get_invalidation(DistributionId=dist, Id=inv["Id"])["Invalidation"]["Status"]
    codepipeline.put_job_success_result(
        jobId=job["id"],
        executionDetails={"summary": "Invalidation %s %s" % (inv["Id"], status), "percentComplete": 100},
        outputVariables={"InvalidationIds": inv["Id"]},
    )


for line in sys.stdin:
    handler(json.loads(line))
    sys.stdout.write("ok\n")
    sys.stdout.flush()
