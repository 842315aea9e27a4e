package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
)

// hearth async: per function, the asynchronous events stored now and what
// happened to them on this node since it started — received, succeeded, failed
// (by destination condition), retried, throttled, dropped, and failed deliveries
// to destinations and dead-letter queues (GET /_hearth/async).
func asyncCmd(args []string) error {
	fs := flag.NewFlagSet("async", flag.ExitOnError)
	cf := addClientFlags(fs)
	asJSON := fs.Bool("json", false, "print the answer as JSON")
	_ = fs.Parse(args)
	body, err := fetchView(context.Background(), cf, "/_hearth/async")
	if err != nil {
		return err
	}
	if *asJSON {
		_, err := os.Stdout.Write(body)
		return err
	}
	var v struct {
		Functions []struct {
			Function                    string
			Stored                      uint64
			Received                    int64 `json:"AsyncEventsReceived"`
			Succeeded                   int64
			Failed                      map[string]int64
			Retried, Throttled          int64
			Dropped                     int64 `json:"AsyncEventsDropped"`
			DestinationDeliveryFailures int64
			DeadLetterErrors            int64
		}
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("the answer is not the JSON expected: %w", err)
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FUNCTION\tSTORED\tRECEIVED\tSUCCEEDED\tFAILED\tRETRIED\tTHROTTLED\tDROPPED\tDELIVERY FAILURES (DESTINATION/DLQ)")
	for _, f := range v.Functions {
		failed := "0"
		if len(f.Failed) > 0 {
			var parts []string
			for c, n := range f.Failed {
				parts = append(parts, fmt.Sprintf("%d %s", n, c))
			}
			sort.Strings(parts)
			failed = strings.Join(parts, ", ")
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%d\t%d\t%d\t%d/%d\n", f.Function, f.Stored, f.Received, f.Succeeded, failed,
			f.Retried, f.Throttled, f.Dropped, f.DestinationDeliveryFailures, f.DeadLetterErrors)
	}
	return tw.Flush()
}
