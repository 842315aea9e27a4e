package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

func TestParseSections(t *testing.T) {
	all, err := parseSections("")
	if err != nil || len(all) != len(sections) {
		t.Fatalf("empty -only: %v, %v; want every section", all, err)
	}
	some, err := parseSections(" warm, parallel ,")
	if err != nil || len(some) != 2 || !some["warm"] || !some["parallel"] {
		t.Fatalf("-only warm,parallel: %v, %v", some, err)
	}
	if _, err := parseSections("warm,bogus"); err == nil {
		t.Fatal("-only with an unknown section: no error")
	}
}

func TestParseReport(t *testing.T) {
	r := parseReport("START RequestId: x\nREPORT RequestId: x\tDuration: 1.25 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB\tMax Memory Used: 20 MB\tInit Duration: 30.50 ms\t\n")
	if !r.ok || r.duration != 1250*time.Microsecond || r.initDuration != 30500*time.Microsecond {
		t.Fatalf("parseReport = %+v; want Duration 1.25 ms, Init Duration 30.5 ms", r)
	}
	if r := parseReport("no report here"); r.ok {
		t.Fatalf("parseReport without a REPORT line = %+v; want not ok", r)
	}
}

func TestPercentile(t *testing.T) {
	var s []time.Duration
	for i := 100; i >= 1; i-- {
		s = append(s, time.Duration(i)*time.Millisecond)
	}
	if p := percentile(s, 0.5); p != 50*time.Millisecond {
		t.Errorf("p50 of 1..100 ms = %s", p)
	}
	if p := percentile(s, 0.99); p != 99*time.Millisecond {
		t.Errorf("p99 of 1..100 ms = %s", p)
	}
	if s[0] != 100*time.Millisecond {
		t.Error("percentile reordered its input")
	}
}

// The CPU-share loop is judged by the count it reports: run it with the host's
// Python (the interpreter Hearth's python runtimes use) and read its answer as the
// bench does.
func TestSpinFunctionCountsItsWork(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Fatalf("python3 is needed for Hearth's Python runtimes and this test: %v", err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "lambda_function.py"), []byte(spinSource), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, "-c", "import json, lambda_function; print(json.dumps(lambda_function.handler({'seconds': 1.2}, None)))")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("the loop failed: %v", err)
	}
	var s spinFigures
	if err := json.Unmarshal(out, &s); err != nil {
		t.Fatalf("the loop answered %q: %v", out, err)
	}
	if s.Iterations <= 0 || s.Seconds < 1.2 || s.rate() <= 0 {
		t.Fatalf("the loop reported %+v; want iterations over at least 1.2 s", s)
	}
	if len(s.PerSecond) != 1 || s.PerSecond[0] <= 0 || s.PerSecond[0] > s.Iterations {
		t.Fatalf("the loop's whole seconds = %v; want one count within the total %v", s.PerSecond, s.Iterations)
	}
}
