package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
)

// hearth concurrency: the account's limit and unreserved pool, and per function its
// reservation, executions in flight and throttles since the node started — read
// from the counters that enforce them (GET /_hearth/concurrency).
func concurrencyCmd(args []string) error {
	fs := flag.NewFlagSet("concurrency", flag.ExitOnError)
	cf := addClientFlags(fs)
	asJSON := fs.Bool("json", false, "print the answer as JSON")
	_ = fs.Parse(args)
	body, v, err := fetchConcurrency(context.Background(), cf)
	if err != nil {
		return err
	}
	if *asJSON {
		_, err := os.Stdout.Write(append(body, '\n'))
		return err
	}
	fmt.Printf("account limit %d, unreserved %d (%d in flight)\n\n", v.AccountLimit, v.UnreservedConcurrentExecutions, v.UnreservedInFlight)
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FUNCTION\tRESERVED\tIN FLIGHT\tTHROTTLES")
	for _, f := range v.Functions {
		reserved := "—"
		if f.ReservedConcurrentExecutions != nil {
			reserved = fmt.Sprint(*f.ReservedConcurrentExecutions)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\n", f.FunctionName, reserved, f.InFlight, f.Throttles)
	}
	return tw.Flush()
}

// concurrencyView is what GET /_hearth/concurrency answers.
type concurrencyView struct {
	AccountLimit, UnreservedConcurrentExecutions, UnreservedInFlight int
	Functions                                                        []functionCounts
}

type functionCounts struct {
	FunctionName                 string
	ReservedConcurrentExecutions *int
	InFlight                     int
	Throttles                    int64
}

// fetchConcurrency reads the counters, as the raw answer and parsed.
func fetchConcurrency(ctx context.Context, cf clientFlags) ([]byte, *concurrencyView, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(*cf.endpoint, "/")+"/_hearth/concurrency", nil)
	if err != nil {
		return nil, nil, err
	}
	if err := cf.sign(ctx, req); err != nil {
		return nil, nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("%s: %s", resp.Header.Get("x-amzn-ErrorType"), strings.TrimSpace(string(body)))
	}
	var v concurrencyView
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, nil, fmt.Errorf("the answer is not the JSON expected: %w", err)
	}
	return body, &v, nil
}
