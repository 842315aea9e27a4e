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
// reservation, provisioned concurrency (requested, and allocated/available/busy
// per config), executions in flight and throttles since the node started — read
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
	fmt.Fprintln(tw, "FUNCTION\tRESERVED\tPROVISIONED (ALLOCATED/AVAILABLE/BUSY)\tIN FLIGHT (ON-DEMAND+PROVISIONED)\tTHROTTLES")
	for _, f := range v.Functions {
		reserved := "—"
		if f.ReservedConcurrentExecutions != nil {
			reserved = fmt.Sprint(*f.ReservedConcurrentExecutions)
		}
		prov := "—"
		if p := f.Provisioned; p != nil {
			prov = fmt.Sprintf("%d (%d/%d/%d)", p.Requested, p.Allocated, p.Available, p.Busy)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d+%d\t%d\n", f.FunctionName, reserved, prov, f.InFlight, f.ProvisionedInFlight, f.Throttles)
		if p := f.Provisioned; p != nil {
			for _, c := range p.Configs {
				line := fmt.Sprintf("  :%s %s", c.Qualifier, c.Status)
				if c.StatusReason != "" {
					line += " (" + c.StatusReason + ")"
				}
				fmt.Fprintf(tw, "%s\t\t%d (%d/%d/%d)\t\t\n", line, c.Requested, c.Allocated, c.Available, c.Busy)
			}
		}
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
	Provisioned                  *struct {
		Requested, Allocated, Available, Busy int
		Configs                               []struct {
			Qualifier, Status, StatusReason       string
			Requested, Allocated, Available, Busy int
		}
	}
	InFlight            int
	ProvisionedInFlight int
	Throttles           int64
}

// fetchConcurrency reads the counters, as the raw answer and parsed.
func fetchConcurrency(ctx context.Context, cf clientFlags) ([]byte, *concurrencyView, error) {
	body, err := fetchView(ctx, cf, "/_hearth/concurrency")
	if err != nil {
		return nil, nil, err
	}
	var v concurrencyView
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, nil, fmt.Errorf("the answer is not the JSON expected: %w", err)
	}
	return body, &v, nil
}

// fetchView GETs one of the operator's views (/_hearth/…), signed with the
// account's key.
func fetchView(ctx context.Context, cf clientFlags, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(*cf.endpoint, "/")+path, nil)
	if err != nil {
		return nil, err
	}
	if err := cf.sign(ctx, req); err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", resp.Header.Get("x-amzn-ErrorType"), strings.TrimSpace(string(body)))
	}
	return body, nil
}
