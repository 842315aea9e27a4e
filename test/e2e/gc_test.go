package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
)

// gcFirstRun is when the restarted server first collects garbage (--gc-first-run).
const gcFirstRun = 6 * time.Second

// TestGarbageCollectionSparesLiveState: the collector, which runs soon after start,
// removes versions and aliases of functions that no longer exist. Functions created
// and published while it runs are not garbage. The server holds many functions, so
// that the collector's pass takes a while, and 8 clients create, publish and alias
// new functions from before the collector starts until after it has finished. The
// functions are created first, on a server whose collector waits an hour; the server
// then restarts on the same data with its collector due gcFirstRun after start, so
// the writes cross it however long the setup took.
func TestGarbageCollectionSparesLiveState(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 1,500 functions and waits for the collector's run")
	}
	t.Parallel()
	dir := t.TempDir()
	s := startServer(t, serverOptions{dataDir: dir, extraArgs: []string{"--gc-first-run", "1h"}})
	c := s.client()
	zip := pythonZip(t, "gc")
	prefix := uniqueName("gc")

	// Many functions, created in parallel with one shared zip.
	const preexisting = 1500
	var wg sync.WaitGroup
	var next atomic.Int64
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > preexisting {
					return
				}
				if _, err := c.CreateFunction(ctxT(t), createInput(fmt.Sprintf("%s-pre-%04d", prefix, i), zip)); err != nil {
					t.Errorf("CreateFunction: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if err := s.stop(); err != nil {
		t.Fatalf("stop the setup server: %v", err)
	}
	started := time.Now()
	s = startServer(t, serverOptions{dataDir: dir, extraArgs: []string{"--gc-first-run", gcFirstRun.String()}})
	c = s.client()

	// Write from 2 s before the collector's first run until 4 s after it.
	time.Sleep(time.Until(started.Add(gcFirstRun - 2*time.Second)))
	stop := started.Add(gcFirstRun + 4*time.Second)
	var mu sync.Mutex
	var acked []string
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			ctx := context.Background()
			for j := 0; time.Now().Before(stop); j++ {
				name := fmt.Sprintf("%s-new-%d-%d", prefix, g, j)
				if _, err := c.CreateFunction(ctx, createInput(name, zip)); err != nil {
					t.Errorf("CreateFunction %s: %v", name, err)
					return
				}
				if _, err := c.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String(name)}); err != nil {
					t.Errorf("PublishVersion %s: %v", name, err)
					return
				}
				if _, err := c.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: aws.String(name), Name: aws.String("live"), FunctionVersion: aws.String("1")}); err != nil {
					t.Errorf("CreateAlias %s: %v", name, err)
					return
				}
				mu.Lock()
				acked = append(acked, name)
				mu.Unlock()
			}
		}(g)
	}
	wg.Wait()
	t.Logf("%d functions created, published and aliased across the collector's run", len(acked))
	for _, line := range strings.Split(s.logs(), "\n") {
		if strings.Contains(line, "garbage collection") {
			t.Logf("hearth: %s", line)
		}
	}
	lost := 0
	for _, name := range acked {
		_, verr := c.GetFunctionConfiguration(ctxT(t), &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(name), Qualifier: aws.String("1")})
		_, aerr := c.GetAlias(ctxT(t), &lambda.GetAliasInput{FunctionName: aws.String(name), Name: aws.String("live")})
		if verr != nil || aerr != nil {
			lost++
			if lost <= 5 {
				t.Errorf("%s: acknowledged version 1 (%v) or alias live (%v) is gone after garbage collection", name, verr, aerr)
			}
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d functions lost an acknowledged version or alias to the garbage collector", lost, len(acked))
	}
}
