// Command hello is a Lambda function built with aws-lambda-go: the same binary runs
// on AWS Lambda (provided.al2023) and on Hearth.
//
//	CGO_ENABLED=0 go build -o bootstrap ./examples/go && zip go.zip bootstrap
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

// invocations lives in module scope: it survives warm invocations of one env.
var invocations int

type event struct {
	Name string `json:"name"`
}

type response struct {
	Hello       string `json:"hello"`
	Function    string `json:"function"`
	Version     string `json:"version"`
	RequestID   string `json:"requestId"`
	Invocations int    `json:"invocations_in_this_env"`
}

func handle(ctx context.Context, e event) (response, error) {
	invocations++
	lc, _ := lambdacontext.FromContext(ctx)
	name := e.Name
	if name == "" {
		name = "world"
	}
	fmt.Printf("hello %s\n", name)
	return response{
		Hello:       name,
		Function:    lambdacontext.FunctionName,
		Version:     os.Getenv("AWS_LAMBDA_FUNCTION_VERSION"),
		RequestID:   lc.AwsRequestID,
		Invocations: invocations,
	}, nil
}

func main() { lambda.Start(handle) }
