package e2e

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
)

// TestInvokeLogFlood: a function that writes 1 GB of 64 KB lines in one invocation
// leaves the server's memory within 100 MB of idle; the log keeps Lambda's lines, a
// bounded share of the output and one line saying how much was dropped, and the
// Tail is still the last 4 KB, ending with REPORT.
func TestInvokeLogFlood(t *testing.T) {
	bin := plainHearth(t)
	forEachDriver(t, func(t *testing.T, driver string) {
		s := startSandboxServerWith(t, driver, func(o *serverOptions) { o.binary = bin })
		// One vCPU, so the flood takes seconds rather than the minutes a 128 MB
		// function's CPU share would make it; the server's side is the same.
		name := deploy(t, s, kindPython, func(in *lambda.CreateFunctionInput) {
			in.MemorySize = aws.Int32(1769)
			in.Timeout = aws.Int32(300)
		})
		s.invokeOK(t, name, map[string]any{"action": "echo"}, invokeOpts{})
		idle := mustProcRSS(t, s.cmd.Process.Pid)

		var (
			mu   sync.Mutex
			peak = idle
			stop = make(chan struct{})
			done = make(chan struct{})
		)
		go func() {
			defer close(done)
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				if rss, err := procRSSBytes(s.cmd.Process.Pid); err == nil {
					mu.Lock()
					peak = max(peak, rss)
					mu.Unlock()
				}
			}
		}()
		const flood = 1 << 30
		r := s.invokeOK(t, name, map[string]any{"action": "logflood", "bytes": flood, "line": 65536},
			invokeOpts{tail: true, timeout: 5 * time.Minute})
		close(stop)
		<-done
		var out struct{ Written int64 }
		r.decode(t, &out)
		if out.Written < flood {
			t.Fatalf("the function wrote %d bytes, want %d", out.Written, flood)
		}
		mu.Lock()
		grew := peak - idle
		mu.Unlock()
		t.Logf("server RSS idle %d MB, peak %d MB during a 1 GB log flood", idle>>20, peak>>20)
		if grew > 100<<20 {
			t.Errorf("the server's RSS grew by %d MB during one invocation's 1 GB of logs; want ≤ 100 MB", grew>>20)
		}

		// The Tail: the last 4 KB, the drop line, END and REPORT.
		if len(r.Log) > 4096 {
			t.Errorf("the Tail is %d bytes; want at most 4 KB", len(r.Log))
		}
		dropLine := regexp.MustCompile(`\[hearth\] (\d+) bytes of log output were dropped`)
		m := dropLine.FindStringSubmatch(r.Log)
		if m == nil {
			t.Fatalf("the Tail does not say how much output was dropped:\n%s", r.Log)
		}
		dropped, _ := strconv.ParseInt(m[1], 10, 64)
		if dropped <= 0 || dropped >= flood {
			t.Errorf("dropped %d bytes of a %d byte flood", dropped, int64(flood))
		}
		if !strings.Contains(r.Log, "END RequestId: "+r.RequestID+"\n") || !strings.Contains(r.Log, "REPORT RequestId: "+r.RequestID) {
			t.Errorf("the Tail lacks END or REPORT:\n%s", r.Log)
		}

		// The log stream: START, bounded output in lines of at most 256 KB, the drop
		// line, END, REPORT — and nothing lost of Lambda's lines.
		var text string
		deadline := time.Now().Add(30 * time.Second)
		for {
			text = s.functionLogs(t, name)
			if strings.Contains(text, "REPORT RequestId: "+r.RequestID) || time.Now().After(deadline) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		for _, want := range []string{"START RequestId: " + r.RequestID, m[0], "END RequestId: " + r.RequestID, "REPORT RequestId: " + r.RequestID} {
			if !strings.Contains(text, want) {
				t.Errorf("the log stream lacks %q", want)
			}
		}
		checkInvocationLog(t, text, r.RequestID, "$LATEST", 1769)
		kept := int64(len(text))
		if kept > 16<<20 {
			t.Errorf("the log stream kept %d MB of one invocation's output; the cap is 8 MB", kept>>20)
		}
		sc := bufio.NewScanner(strings.NewReader(text))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			if len(sc.Bytes()) > 256<<10 {
				t.Fatalf("a log line of %d bytes; Lambda's limit is 256 KB", len(sc.Bytes()))
			}
		}

		// The env still serves.
		s.invokeOK(t, name, map[string]any{"action": "echo"}, invokeOpts{})
	})
}

// plainHearth is a hearth built without the race detector, whose shadow memory
// triples a flood's garbage: memory bounds are the production binary's. Under
// -race it is built once, beside TestMain's; otherwise it is TestMain's.
func plainHearth(t *testing.T) string {
	t.Helper()
	if !raceEnabled {
		return ""
	}
	plainOnce.Do(func() {
		plainBin = filepath.Join(filepath.Dir(hearthBin), "hearth-norace")
		plainErr = buildHearthRace(plainBin, false)
	})
	if plainErr != nil {
		t.Fatalf("build hearth without -race: %v", plainErr)
	}
	return plainBin
}

var (
	plainOnce sync.Once
	plainBin  string
	plainErr  error
)

func mustProcRSS(t testing.TB, pid int) int64 {
	t.Helper()
	rss, err := procRSSBytes(pid)
	if err != nil {
		t.Fatal(err)
	}
	return rss
}

// procRSSBytes is a process's resident set size in bytes.
func procRSSBytes(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}
