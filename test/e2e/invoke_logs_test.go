package e2e

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// hearthCmd runs the hearth binary as a client of s, with credentials in the
// environment as a user would pass them.
func hearthCmd(ctx context.Context, s *server, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, hearthBin, args...)
	env := []string{}
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "AWS_") || strings.HasPrefix(kv, "HEARTH_") {
			continue
		}
		env = append(env, kv)
	}
	cmd.Env = append(env, "AWS_ACCESS_KEY_ID="+s.keyID, "AWS_SECRET_ACCESS_KEY="+s.secret, "AWS_REGION="+region)
	return cmd
}

// TestInvokeLogsCommand: `hearth logs NAME` prints Lambda's lines and the function's
// output; --follow prints a new invocation as it happens.
func TestInvokeLogsCommand(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		s := sandboxServer(t, driver)
		name := deploy(t, s, kindPython)
		m1 := uniqueName("first")
		r1 := s.invokeOK(t, name, map[string]any{"action": "echo", "marker": m1}, invokeOpts{})
		var e1 echoResponse
		r1.decode(t, &e1)

		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := hearthCmd(ctx, s, "logs", name, "--endpoint", s.url())
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("hearth logs %s: %v\n%s", name, err, stderr.String())
		}
		text := string(out)
		checkInvocationLog(t, text, r1.RequestID, "$LATEST", 128)
		if !strings.Contains(text, "MARKER "+m1) {
			t.Errorf("hearth logs lacks the function's output %q:\n%s", "MARKER "+m1, text)
		}
		if !strings.Contains(text, "== "+e1.Ctx.LogStream+"\n") {
			t.Errorf("hearth logs does not name the log stream %q:\n%s", e1.Ctx.LogStream, text)
		}

		// A function that does not exist is an error, not an empty log.
		cmd = hearthCmd(ctx, s, "logs", uniqueName("no-such-fn"), "--endpoint", s.url())
		if b, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(b), "ResourceNotFoundException") {
			t.Errorf("hearth logs of a missing function: err %v, output %q; want a failure naming ResourceNotFoundException", err, b)
		}

		// --follow: history first, then what happens next.
		fctx, fcancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer fcancel()
		follow := hearthCmd(fctx, s, "logs", name, "--follow", "--endpoint", s.url())
		follow.Stderr = &stderr
		pipe, err := follow.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := follow.Start(); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var seen strings.Builder
		readDone := make(chan struct{})
		go func() {
			defer close(readDone)
			sc := bufio.NewScanner(pipe)
			for sc.Scan() {
				mu.Lock()
				seen.WriteString(sc.Text() + "\n")
				mu.Unlock()
			}
		}()
		defer func() {
			_ = follow.Process.Signal(os.Interrupt)
			select {
			case <-readDone:
			case <-time.After(5 * time.Second):
				_ = follow.Process.Kill()
				<-readDone
			}
			_ = follow.Wait()
		}()
		snapshot := func() string { mu.Lock(); defer mu.Unlock(); return seen.String() }
		eventually(t, 10*time.Second, "hearth logs --follow prints the history", func() error {
			if !strings.Contains(snapshot(), "MARKER "+m1) {
				return errNotYet
			}
			return nil
		})
		m2 := uniqueName("followed")
		r2 := s.invokeOK(t, name, map[string]any{"action": "echo", "marker": m2}, invokeOpts{})
		eventually(t, 10*time.Second, "hearth logs --follow prints the new invocation", func() error {
			text := snapshot()
			if !strings.Contains(text, "MARKER "+m2) || !strings.Contains(text, "REPORT RequestId: "+r2.RequestID+"\t") {
				return errNotYet
			}
			return nil
		})
		checkInvocationLog(t, snapshot(), r2.RequestID, "$LATEST", 128)
	})
}
