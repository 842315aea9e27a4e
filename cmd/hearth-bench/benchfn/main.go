// Command benchfn is the no-op function `hearth-bench` measures on every platform:
// built with aws-lambda-go, it returns its event unchanged.
//
//	CGO_ENABLED=0 go build -o bootstrap ./cmd/hearth-bench/benchfn
package main

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-lambda-go/lambda"
)

func handle(_ context.Context, event json.RawMessage) (json.RawMessage, error) {
	return event, nil
}

func main() { lambda.Start(handle) }
