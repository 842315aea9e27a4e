package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
)

// parallelInvoke runs n invocations at once and returns their results in order.
func parallelInvoke(t *testing.T, s *server, n int, name string, payload any, o invokeOpts) ([]invokeResult, time.Duration) {
	t.Helper()
	results := make([]invokeResult, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = s.invokeE(name, payload, o)
		}()
	}
	wg.Wait()
	total := time.Since(start)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("parallel invoke %d: %v", i, err)
		}
	}
	return results, total
}

// maxOverlap is the most intervals [began, ended] that share one instant.
func maxOverlap(spans [][2]float64) int {
	best := 0
	for _, s := range spans {
		n := 0
		for _, o := range spans {
			if o[0] <= s[0] && s[0] < o[1] {
				n++
			}
		}
		best = max(best, n)
	}
	return best
}

// TestInvokeScaleOut: 10 concurrent 1-second invocations run side by side in 10
// envs, cold and then warm.
func TestInvokeScaleOut(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		s := sandboxServer(t, driver)
		name := deploy(t, s, kindPython)
		const n = 10
		// Side by side is read from the functions' own clocks: the most 1-second
		// sleeps under way at one instant. Serial invocations would never overlap;
		// parallel cold starts on a busy 2-core machine (and the race detector)
		// stagger their inits, so the cold round asks for a few at once, the warm
		// round for most. How fast parallel cold starts are is hearth-bench's to
		// measure.
		coldOverlap, warmOverlap := 3, n/2
		for round, want := range []int{coldOverlap, warmOverlap} {
			results, total := parallelInvoke(t, s, n, name, map[string]any{"action": "sleep", "seconds": 1}, invokeOpts{tail: true})
			streams := map[string]bool{}
			var spans [][2]float64
			cold := 0
			var detail []string
			for i, r := range results {
				if r.Status != http.StatusOK || r.FunctionError != "" {
					t.Fatalf("round %d invoke %d: %s", round+1, i, r)
				}
				var v struct {
					Count     int     `json:"count"`
					LogStream string  `json:"log_stream"`
					Began     float64 `json:"began"`
					Ended     float64 `json:"ended"`
				}
				r.decode(t, &v)
				spans = append(spans, [2]float64{v.Began, v.Ended})
				if v.Count != round+1 {
					t.Errorf("round %d invoke %d: count %d, want %d (one invocation per env at a time)", round+1, i, v.Count, round+1)
				}
				streams[v.LogStream] = true
				rep := checkInvocationLog(t, r.Log, r.RequestID, "$LATEST", 128)
				if rep.HasInit {
					cold++
				}
				detail = append(detail, fmt.Sprintf("%.2fs (init %.0f ms)", r.Elapsed.Seconds(), rep.InitDuration))
			}
			what := map[int]string{0: "cold", 1: "warm"}[round]
			overlap := maxOverlap(spans)
			t.Logf("%s: %d parallel 1-second invocations took %v in %d envs (%d cold starts), at most %d at once", what, n, total, len(streams), cold, overlap)
			if len(streams) != n {
				t.Errorf("%s round: %d invocations ran in %d envs, want %d", what, n, len(streams), n)
			}
			if wantCold := map[int]int{0: n, 1: 0}[round]; cold != wantCold {
				t.Errorf("%s round: %d cold starts, want %d", what, cold, wantCold)
			}
			if overlap < want {
				t.Errorf("%s round: at most %d of %d parallel 1-second invocations ran at once, want at least %d side by side (took %v); each took: %s",
					what, overlap, n, want, total, strings.Join(detail, ", "))
			}
		}
	})
}

// TestInvokeHostCap: with --max-envs 2 and both envs busy, another invocation that
// needs an env gets 429 TooManyRequestsException; once they are idle it runs.
func TestInvokeHostCap(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		s := startSandboxServer(t, driver, "--max-envs", "2")
		busy := deploy(t, s, kindPython)
		other := deploy(t, s, kindPython)

		// Two warm envs of busy, so the long invocations start at once.
		results, _ := parallelInvoke(t, s, 2, busy, map[string]any{"action": "sleep", "seconds": 0.5}, invokeOpts{})
		for _, r := range results {
			if r.Status != http.StatusOK || r.FunctionError != "" {
				t.Fatalf("warm-up: %s", r)
			}
		}
		var wg sync.WaitGroup
		long := make([]invokeResult, 2)
		longErr := make([]error, 2)
		for i := range long {
			wg.Add(1)
			go func() {
				defer wg.Done()
				long[i], longErr[i] = s.invokeE(busy, map[string]any{"action": "sleep", "seconds": 3}, invokeOpts{})
			}()
		}
		time.Sleep(700 * time.Millisecond) // both are running by now (warm envs)
		r := s.invoke(t, other, map[string]any{"action": "echo"}, invokeOpts{})
		if r.Status != http.StatusTooManyRequests {
			t.Errorf("a third env with --max-envs 2 full: want 429, got %s", r)
		} else {
			if typ := r.Header.Get("X-Amzn-Errortype"); typ != "TooManyRequestsException" {
				t.Errorf("x-amzn-ErrorType = %q, want TooManyRequestsException", typ)
			}
			typ, msg := rawResponse{Status: r.Status, Header: r.Header, Body: r.Body}.errorDoc(t)
			if typ == "" || msg == "" {
				t.Errorf("429 body %s lacks Type or message", r.Body)
			}
			t.Logf("429: %s", r.Body)
		}
		// The SDK sees the same.
		_, err := s.client().Invoke(ctxT(t), &lambda.InvokeInput{FunctionName: aws.String(other), Payload: []byte(`{}`)})
		wantAPIError(t, err, "TooManyRequestsException", http.StatusTooManyRequests)
		wg.Wait()
		for i := range long {
			if longErr[i] != nil || long[i].Status != http.StatusOK || long[i].FunctionError != "" {
				t.Errorf("long invocation %d: %v %s", i, longErr[i], long[i])
			}
		}
		// Idle envs make room: the other function now runs (an idle env is evicted).
		s.invokeOK(t, other, map[string]any{"action": "echo"}, invokeOpts{})
	})
}

// TestInvokeFreezeAndReap: an idle env is frozen (its background thread stops) and,
// past the idle TTL, reaped (the next invocation is cold).
func TestInvokeFreezeAndReap(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		const ttl = 2 * time.Second
		s := startSandboxServer(t, driver, "--freeze-after", "50ms", "--idle-ttl", ttl.String())
		for _, k := range []fnKind{kindPython, kindGo} {
			t.Run(k.short, func(t *testing.T) {
				// One vCPU: at 128 MB (0.072 CPU) a 10 ms ticker under gVisor cannot keep
				// pace, and this test is about freezing, not the CPU share.
				name := deploy(t, s, k, func(in *lambda.CreateFunctionInput) { in.MemorySize = aws.Int32(1769) })
				ticks := func(r invokeResult) int {
					var v struct {
						Count int `json:"count"`
						Ticks int `json:"ticks"`
					}
					r.decode(t, &v)
					return v.Ticks
				}
				// Start the ticker; while the handler runs 300 ms it advances (~30).
				s.invokeOK(t, name, map[string]any{"action": "ticker"}, invokeOpts{})
				a := ticks(s.invokeOK(t, name, map[string]any{"action": "ticker"}, invokeOpts{}))
				b := ticks(s.invokeOK(t, name, map[string]any{"action": "ticker", "sleep": 0.3}, invokeOpts{}))
				if b-a < 15 {
					t.Fatalf("the ticker advanced %d ticks in a 300 ms invocation; want about 30 (it must run to prove anything)", b-a)
				}
				// Idle 1 s: a running env advances ~100 ticks; one frozen after 50 ms stops
				// once the freeze is done (runsc pause can take a few hundred ms on a
				// busy host), so well under half of that.
				time.Sleep(time.Second)
				c := ticks(s.invokeOK(t, name, map[string]any{"action": "ticker"}, invokeOpts{}))
				t.Logf("ticks: %d during a 300 ms invocation, %d during 1 s idle (frozen after 50 ms)", b-a, c-b)
				if c-b > 45 {
					t.Errorf("the background ticker advanced %d ticks in 1 s idle; a running env advances ~100, a frozen one stops (not frozen?)", c-b)
				}
				// Past the idle TTL and a reaper tick (ttl/4): reaped; the next one is cold.
				time.Sleep(ttl + ttl/4 + 500*time.Millisecond)
				r := s.invokeOK(t, name, map[string]any{"action": "ticker"}, invokeOpts{tail: true})
				var v struct {
					Count int `json:"count"`
				}
				r.decode(t, &v)
				if v.Count != 1 {
					t.Errorf("after %v idle (TTL %v) the invocation saw count %d, want 1 (a new env)", ttl+ttl/4+500*time.Millisecond, ttl, v.Count)
				}
				if rep := checkInvocationLog(t, r.Log, r.RequestID, "$LATEST", 1769); !rep.HasInit {
					t.Errorf("after the idle TTL the invocation was not a cold start:\n%s", r.Log)
				}
			})
		}
	})
}
