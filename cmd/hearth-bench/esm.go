package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
)

// The "esm" part: an event source mapping's delivery latency, from SendMessage to
// the function's start, for a function that does nothing but note when it started
// (BatchSize 1, no batching window, one message at a time). The function reports
// its start time to a second queue with the bundled boto3 after the measured
// moment, so the report costs the figure nothing; the envs need Hearth's own
// endpoints (--egress hearth-only).

const esmBenchFn = `import json, os, time
import boto3

sqs = boto3.client("sqs")


def handler(event, context):
    start = time.time()
    for r in event["Records"]:
        sqs.send_message(QueueUrl=os.environ["RECORD_QUEUE"], MessageBody=json.dumps({"sent": float(r["body"]), "start": start}))
`

type esmFigures struct {
	driver string
	lat    []time.Duration
	note   string
}

func benchESM(self string, drivers []string, n int) error {
	busy := hostBusy()
	var all []*esmFigures
	for _, d := range drivers {
		all = append(all, benchESMDriver(self, d, n))
	}
	printESMTable(os.Stdout, all, n, busy)
	return nil
}

func benchESMDriver(self, driver string, n int) *esmFigures {
	f := &esmFigures{driver: driver}
	fail := func(err error) *esmFigures { f.note = err.Error(); return f }
	dir, err := os.MkdirTemp("", "hearth-bench-esm-")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(dir)
	progress("esm, %s: starting hearth serve", driver)
	srv, err := startHearth(self, dir, driver, "--egress", "hearth-only")
	if err != nil {
		return fail(err)
	}
	defer srv.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	c := newBenchClient(srv.addr, 4)
	q := awssqs.New(awssqs.Options{
		Region: "us-east-1", BaseEndpoint: aws.String("http://" + srv.addr), HTTPClient: awshttp.NewBuildableClient(),
		Credentials: credentials.NewStaticCredentialsProvider(benchKey, benchSecret, ""),
	})
	src, err := q.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String("esm-src")})
	if err != nil {
		return fail(apiError(err))
	}
	rec, err := q.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String("esm-rec")})
	if err != nil {
		return fail(apiError(err))
	}
	zip, err := zipFiles(map[string][]byte{"app.py": []byte(esmBenchFn)}, "")
	if err != nil {
		return fail(err)
	}
	if _, err := c.CreateFunction(ctx, &lambda.CreateFunctionInput{
		FunctionName: aws.String("esm-noop"), Runtime: types.RuntimePython312, Handler: aws.String("app.handler"),
		Role: aws.String("arn:aws:iam::000000000000:role/bench"), Code: &types.FunctionCode{ZipFile: zip},
		MemorySize: aws.Int32(128), Timeout: aws.Int32(30),
		Environment: &types.Environment{Variables: map[string]string{"RECORD_QUEUE": aws.ToString(rec.QueueUrl)}},
	}); err != nil {
		return fail(apiError(err))
	}
	if err := waitFunctionReady(ctx, c, "esm-noop"); err != nil {
		return fail(err)
	}
	if _, err := c.CreateEventSourceMapping(ctx, &lambda.CreateEventSourceMappingInput{
		EventSourceArn: aws.String("arn:aws:sqs:us-east-1:000000000000:esm-src"), FunctionName: aws.String("esm-noop"), BatchSize: aws.Int32(1),
	}); err != nil {
		return fail(apiError(err))
	}
	one := func() (time.Duration, error) {
		sent := time.Now()
		body := strconv.FormatFloat(float64(sent.UnixNano())/1e9, 'f', 6, 64)
		if _, err := q.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: src.QueueUrl, MessageBody: aws.String(body)}); err != nil {
			return 0, apiError(err)
		}
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			out, err := q.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: rec.QueueUrl, WaitTimeSeconds: 5})
			if err != nil {
				return 0, apiError(err)
			}
			for _, m := range out.Messages {
				_, _ = q.DeleteMessage(ctx, &awssqs.DeleteMessageInput{QueueUrl: rec.QueueUrl, ReceiptHandle: m.ReceiptHandle})
				var r struct{ Sent, Start float64 }
				if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &r); err != nil {
					return 0, err
				}
				if fmt.Sprintf("%.6f", r.Sent) == body {
					return time.Duration((r.Start - r.Sent) * 1e9), nil
				}
			}
		}
		return 0, fmt.Errorf("no report of the message sent at %s within 60 s", body)
	}
	// The first messages start the env and the pollers' connections.
	progress("esm, %s: warming up", driver)
	for range 10 {
		if _, err := one(); err != nil {
			return fail(err)
		}
	}
	progress("esm, %s: %d messages, one at a time", driver, n)
	for range n {
		d, err := one()
		if err != nil {
			return fail(err)
		}
		f.lat = append(f.lat, d)
	}
	return f
}

func printESMTable(w io.Writer, all []*esmFigures, n int, busy string) {
	fmt.Fprintf(w, "\nEvent source mapping delivery: SendMessage → the function's start, python 3.12 no-op, 128 MB, BatchSize 1, one message at a time (host: %s)\n", busy)
	tw := newTable(w)
	fmt.Fprintln(tw, "driver\tn\tp50\tp99\tmax")
	for _, f := range all {
		if len(f.lat) == 0 {
			continue
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", f.driver, len(f.lat), fmtDur(medianOf(f.lat)), fmtDur(percentile(f.lat, 0.99)), fmtDur(percentile(f.lat, 1)))
	}
	tw.Flush()
	for _, f := range all {
		if f.note != "" {
			fmt.Fprintf(w, "note (%s): %s\n", f.driver, f.note)
		}
	}
}
