package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// Asynchronous invocation: how fast an Event invoke is accepted (the 202, which
// waits for JetStream to store the event) against a GetFunction on the same server
// — the goal is within 1.5× — and how many events a no-op function gets
// through end to end, against the same number of synchronous invokes at the same
// client concurrency.

type asyncFigures struct {
	driver         string
	accept, getFn  []time.Duration
	events         int
	acceptWall     time.Duration // sending them all
	drainWall      time.Duration // from the first send to the last event's success
	syncWall       time.Duration // the same number of RequestResponse invokes
	reserved       int
	notes          []string
	stored, failed int64
}

func (f *asyncFigures) note(format string, args ...any) {
	f.notes = append(f.notes, fmt.Sprintf(format, args...))
}

func benchAsync(self string, o *invokeBenchOptions, drivers []string, accepts, events, senders int) error {
	art, err := buildArtifacts(self, o.fnBootstrap)
	if err != nil {
		return err
	}
	defer art.cleanup()
	busy := hostBusy()
	var all []*asyncFigures
	for _, d := range drivers {
		all = append(all, benchAsyncDriver(self, d, art, accepts, events, senders))
	}
	printAsyncTables(os.Stdout, all, senders, busy)
	return nil
}

func benchAsyncDriver(self, driver string, art *benchArtifacts, accepts, events, senders int) *asyncFigures {
	f := &asyncFigures{driver: driver, events: events, reserved: 8}
	dir, err := os.MkdirTemp("", "hearth-bench-async-")
	if err != nil {
		f.note("%v", err)
		return f
	}
	defer os.RemoveAll(dir)
	progress("async, %s: starting hearth serve", driver)
	srv, err := startHearth(self, dir, driver)
	if err != nil {
		f.note("%v", err)
		return f
	}
	defer srv.stop()
	ctx := context.Background()
	c := newBenchClient(srv.addr, senders)
	const fn = "async-noop"
	if err := createBenchFunction(ctx, c, fn, types.RuntimeProvidedal2023, "bootstrap", art.goZip, 128); err != nil {
		f.note("%v", err)
		return f
	}
	// Eight envs at most, as a real deployment would bound a function on a 2-core
	// host: the events wait in the queue, not in a cold-start storm.
	if _, err := c.PutFunctionConcurrency(ctx, &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String(fn), ReservedConcurrentExecutions: aws.Int32(int32(f.reserved))}); err != nil {
		f.note("PutFunctionConcurrency: %v", apiError(err))
		return f
	}
	if _, err := repeat(50, func() error {
		out, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(fn), Payload: []byte(`{}`)})
		if err != nil {
			return apiError(err)
		}
		return checkNoFunctionError(out)
	}); err != nil {
		f.note("warm-up: %v", err)
		return f
	}

	// The 202 against GetFunction, call by call, so the events running in the
	// background (and any drift in the host's load) fall on both alike.
	progress("async, %s: %d Event invokes and %d GetFunction calls", driver, accepts, accepts)
	event := func() error {
		out, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(fn), InvocationType: types.InvocationTypeEvent, Payload: []byte(`{"n":1}`)})
		if err != nil {
			return apiError(err)
		}
		if out.StatusCode != http.StatusAccepted {
			return fmt.Errorf("Event invoke answered %d", out.StatusCode)
		}
		return nil
	}
	get := func() error {
		_, err := c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(fn)})
		return apiError(err)
	}
	for range accepts {
		a, err := repeat(1, event)
		if err != nil {
			f.note("Event invoke: %v", err)
			return f
		}
		g, err := repeat(1, get)
		if err != nil {
			f.note("GetFunction: %v", err)
			return f
		}
		f.accept, f.getFn = append(f.accept, a...), append(f.getFn, g...)
	}
	if err := waitSucceeded(srv.addr, fn, int64(len(f.accept)), 5*time.Minute); err != nil {
		f.note("the accept-latency events: %v", err)
		return f
	}

	// Throughput: events sent by `senders` clients at once, until the last one ran.
	progress("async, %s: %d events end to end, %d senders", driver, events, senders)
	base := int64(len(f.accept))
	t0 := time.Now()
	if err := fanOut(events, senders, event); err != nil {
		f.note("throughput: %v", err)
		return f
	}
	f.acceptWall = time.Since(t0)
	if err := waitSucceeded(srv.addr, fn, base+int64(events), 10*time.Minute); err != nil {
		f.note("throughput: %v", err)
		return f
	}
	f.drainWall = time.Since(t0)
	if st, err := asyncStatsOf(srv.addr, fn); err == nil {
		f.stored = int64(st.Stored)
		for _, n := range st.Failed {
			f.failed += n
		}
	}

	// As many synchronous callers as the reservation admits at once.
	progress("async, %s: %d RequestResponse invokes, %d callers", driver, events, f.reserved)
	t0 = time.Now()
	if err := fanOut(events, f.reserved, func() error {
		out, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(fn), Payload: []byte(`{"n":1}`)})
		if err != nil {
			return apiError(err)
		}
		return checkNoFunctionError(out)
	}); err != nil {
		f.note("RequestResponse: %v", err)
	}
	f.syncWall = time.Since(t0)
	return f
}

// fanOut runs call n times from k goroutines; the first error stops it.
func fanOut(n, k int, call func() error) error {
	var next atomic.Int64
	var first atomic.Value
	var wg sync.WaitGroup
	for range k {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) && first.Load() == nil {
				if err := call(); err != nil {
					first.CompareAndSwap(nil, err)
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := first.Load().(error); err != nil {
		return err
	}
	return nil
}

// asyncStat is one function's line of /_hearth/async.
type asyncStat struct {
	Function  string
	Stored    uint64
	Succeeded int64
	Failed    map[string]int64
}

func asyncStatsOf(addr, fn string) (asyncStat, error) {
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/_hearth/async", nil)
	if err != nil {
		return asyncStat{}, err
	}
	const emptySHA = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: benchKey, SecretAccessKey: benchSecret}, req, emptySHA, "lambda", "us-east-1", time.Now()); err != nil {
		return asyncStat{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return asyncStat{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return asyncStat{}, fmt.Errorf("GET /_hearth/async: %d %s %v", resp.StatusCode, b, err)
	}
	var v struct{ Functions []asyncStat }
	if err := json.Unmarshal(b, &v); err != nil {
		return asyncStat{}, err
	}
	for _, s := range v.Functions {
		if s.Function == fn {
			return s, nil
		}
	}
	return asyncStat{Function: fn}, nil
}

// waitSucceeded waits until fn's events have succeeded n times on the server.
func waitSucceeded(addr, fn string, n int64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last asyncStat
	for time.Now().Before(deadline) {
		st, err := asyncStatsOf(addr, fn)
		if err != nil {
			return err
		}
		last = st
		if st.Succeeded >= n {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("%d of %d events succeeded within %v (stored %d, failed %v)", last.Succeeded, n, timeout, last.Stored, last.Failed)
}

func printAsyncTables(w io.Writer, all []*asyncFigures, senders int, busy string) {
	fmt.Fprintf(w, "\nAsynchronous invocation, no-op Go function, 128 MB (host: %s)\n", busy)
	fmt.Fprintln(w, "\nAccepting an Event invoke (202: the event is in JetStream) against GetFunction on the same server, client-side, one caller")
	tw := newTable(w)
	fmt.Fprintln(tw, "driver\tn\t202 p50\tp99\tGetFunction p50\tp99\t202 ÷ GetFunction (goal ≤ 1.5×)")
	for _, f := range all {
		if len(f.accept) == 0 {
			continue
		}
		r := float64(medianOf(f.accept)) / float64(medianOf(f.getFn))
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%.2f× (%s)\n", f.driver, len(f.accept), fmtDur(medianOf(f.accept)), fmtDur(percentile(f.accept, 0.99)),
			fmtDur(medianOf(f.getFn)), fmtDur(percentile(f.getFn, 0.99)), r, metWhen(r <= 1.5))
	}
	tw.Flush()
	fmt.Fprintf(w, "\nEnd to end: events sent by %d callers at once until the last one ran (reserved concurrency 8), against the same number of RequestResponse invokes from 8 callers\n", senders)
	tw = newTable(w)
	fmt.Fprintln(tw, "driver\tevents\taccepted/s\tevents run/s (end to end)\tfailed\tRequestResponse/s\tasync ÷ sync")
	for _, f := range all {
		if f.drainWall == 0 {
			continue
		}
		acc := float64(f.events) / f.acceptWall.Seconds()
		run := float64(f.events) / f.drainWall.Seconds()
		syncRate := 0.0
		if f.syncWall > 0 {
			syncRate = float64(f.events) / f.syncWall.Seconds()
		}
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.0f\t%d\t%.0f\t%.2f×\n", f.driver, f.events, acc, run, f.failed, syncRate, run/syncRate)
	}
	tw.Flush()
	for _, f := range all {
		for _, n := range f.notes {
			fmt.Fprintf(w, "note (%s): %s\n", f.driver, n)
		}
	}
}
