package e2e

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
)

// TestConnectionFloodBounded: a function that floods Hearth's function-facing
// listener with connections is held to its env's limits — new connections per
// second (refused past the rate) and connections open at once (refused past the
// cap) — and the host's API answers every call meanwhile. Both drivers; the limits
// are set low so that even a slow sandbox reaches them.
func TestConnectionFloodBounded(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		const maxConns, rate = 50, 200
		subnet := nextEnvSubnet()
		gw := subnet[:len(subnet)-len("0/24")] + "1"
		s := startSandboxServer(t, driver, "--egress", "hearth-only", "--env-subnet", subnet,
			"--env-max-connections", fmt.Sprint(maxConns), "--env-new-connections-per-sec", fmt.Sprint(rate))
		fn := deploy(t, s, kindPython, func(in *lambda.CreateFunctionInput) {
			in.MemorySize = aws.Int32(1769) // a whole vCPU to flood with
			in.Timeout = aws.Int32(60)
		})
		// The host's API, called throughout the flood.
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var calls, failed int
		var firstErr error
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				case <-time.After(100 * time.Millisecond):
				}
				_, err := s.client().ListFunctions(ctxT(t), &lambda.ListFunctionsInput{})
				calls++
				if err != nil {
					failed++
					if firstErr == nil {
						firstErr = err
					}
				}
			}
		}()
		var out struct {
			OK, Refused, Other, Held int
		}
		s.invokeOK(t, fn, map[string]any{"action": "connflood", "host": gw, "port": 9061, "seconds": 3, "threads": 4, "hold": maxConns * 3},
			invokeOpts{timeout: 90 * time.Second}).decode(t, &out)
		close(stop)
		wg.Wait()
		t.Logf("flood: %+v; host API: %d calls, %d failed", out, calls, failed)
		if failed > 0 || calls == 0 {
			t.Errorf("the host's API failed %d of %d calls during the flood, first: %v", failed, calls, firstErr)
		}
		if out.Refused == 0 {
			t.Errorf("the flood (%d connections in 3 s) was never refused: the rate limit of %d/s did not hold", out.OK, rate)
		}
		if out.OK > rate*4+rate { // 3 s at the rate and its burst, with a second of slack
			t.Errorf("%d connections got through in 3 s, more than the rate of %d/s allows", out.OK, rate)
		}
		if out.Held > maxConns || out.Held < maxConns/2 {
			t.Errorf("held %d connections at once, want at most the cap %d (and most of it)", out.Held, maxConns)
		}
		// The flood ended with the invocation: the env serves the next one.
		s.invokeOK(t, fn, map[string]any{"action": "echo"}, invokeOpts{})
	})
}
