// Command gofn is an aws-lambda-go function for Hearth's invoke e2e tests: one
// handler, many behaviours, chosen by the event's action.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

var (
	count   int          // module scope: once per execution environment
	ticks   atomic.Int64 // advanced every 10 ms once the ticker started
	started bool
	hog     [][]byte
)

var lambdaVars = []string{
	"AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
	"AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_REGION", "AWS_EXECUTION_ENV",
	"_HANDLER", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR", "AWS_LAMBDA_RUNTIME_API", "TZ", "PATH",
	"LD_LIBRARY_PATH", "MY_VAR", "OTHER_VAR",
}

type event struct {
	Action  string  `json:"action"`
	Marker  string  `json:"marker,omitempty"`
	Seconds float64 `json:"seconds,omitempty"`
	Sleep   float64 `json:"sleep,omitempty"`
	Code    int     `json:"code,omitempty"`
	MB      int     `json:"mb,omitempty"`
}

func handle(ctx context.Context, raw map[string]any) (any, error) {
	count++
	var e event
	if v, ok := raw["action"].(string); ok {
		e.Action = v
	}
	if v, ok := raw["marker"].(string); ok {
		e.Marker = v
	}
	num := func(k string) float64 { f, _ := raw[k].(float64); return f }
	e.Seconds, e.Sleep, e.Code, e.MB = num("seconds"), num("sleep"), int(num("code")), int(num("mb"))
	if e.Marker != "" {
		fmt.Println("MARKER " + e.Marker)
	}
	switch e.Action {
	case "", "echo":
		lc, _ := lambdacontext.FromContext(ctx)
		deadline, _ := ctx.Deadline()
		env := map[string]string{}
		for _, k := range lambdaVars {
			if v, ok := os.LookupEnv(k); ok {
				env[k] = v
			}
		}
		var custom map[string]string
		if lc != nil && lc.ClientContext.Custom != nil {
			custom = lc.ClientContext.Custom
		}
		return map[string]any{
			"event": raw,
			"count": count,
			"ctx": map[string]any{
				"request_id":       lc.AwsRequestID,
				"function_name":    lambdacontext.FunctionName,
				"function_version": lambdacontext.FunctionVersion,
				"invoked_arn":      lc.InvokedFunctionArn,
				"memory_limit":     strconv.Itoa(lambdacontext.MemoryLimitInMB),
				"log_group":        lambdacontext.LogGroupName,
				"log_stream":       lambdacontext.LogStreamName,
				"remaining_ms":     time.Until(deadline).Milliseconds(),
				"client_custom":    custom,
			},
			"env": env,
		}, nil
	case "error":
		return nil, errors.New("boom: " + e.Marker)
	case "exit":
		os.Exit(2)
	case "sleep":
		time.Sleep(time.Duration(e.Seconds * float64(time.Second)))
		return map[string]any{"count": count, "log_stream": lambdacontext.LogStreamName}, nil
	case "ticker":
		if !started {
			started = true
			go func() {
				for {
					time.Sleep(10 * time.Millisecond)
					ticks.Add(1)
				}
			}()
		}
		if e.Sleep > 0 {
			time.Sleep(time.Duration(e.Sleep * float64(time.Second)))
		}
		return map[string]any{"count": count, "ticks": ticks.Load()}, nil
	case "oom":
		for i := 0; i < e.MB/10; i++ {
			b := make([]byte, 10<<20)
			for j := range b {
				b[j] = 1
			}
			hog = append(hog, b)
		}
		return map[string]any{"count": count, "held_mb": 10 * len(hog)}, nil
	}
	return nil, fmt.Errorf("unknown action %q", e.Action)
}

func main() { lambda.Start(handle) }
