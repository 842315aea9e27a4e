package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// probeOutcome is one tried operation's answer from the probe action.
type probeOutcome struct {
	OK    bool   `json:"ok"`
	Value any    `json:"value"`
	Error string `json:"error"`
}

// probe runs the Python function's isolation probes and returns the raw answer.
func probe(t *testing.T, s *server, name string, p map[string]any) map[string]any {
	t.Helper()
	p["action"] = "probe"
	r := s.invokeOK(t, name, p, invokeOpts{timeout: 30 * time.Second})
	var out map[string]any
	r.decode(t, &out)
	return out
}

func outcome(t *testing.T, out map[string]any, key string) probeOutcome {
	t.Helper()
	v, ok := out[key]
	if !ok {
		t.Fatalf("probe answer has no %q: %v", key, out)
	}
	m, _ := v.(map[string]any)
	o := probeOutcome{Value: m["value"]}
	o.OK, _ = m["ok"].(bool)
	o.Error, _ = m["error"].(string)
	return o
}

// wantDenied requires that every probe of kind ("read", "list", "write",
// "connect") on the paths failed.
func wantDenied(t *testing.T, out map[string]any, kind string, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if o := outcome(t, out, kind+":"+p); o.OK {
			t.Errorf("a function could %s %s: %v", kind, p, o.Value)
		}
	}
}

// hostIPv4 is a non-loopback IPv4 address of this host, or "".
func hostIPv4() string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return ""
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
			return n.IP.String()
		}
	}
	return ""
}

func hostPidCount(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err == nil {
			n++
		}
	}
	return n
}

// TestInvokeIsolation attacks from inside functions: other functions' code and
// /tmp, writes to read-only places, host processes, Hearth's data directory and
// credentials, the API port and the host's network, the user it runs as, a fork
// bomb and a memory hog.
func TestInvokeIsolation(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		s := sandboxServer(t, driver)
		secret := uniqueName("secret")
		victimZip := testdataZip(t, "python", map[string]string{"secret.txt": secret})
		victim := deploy(t, s, kindPython, func(in *lambda.CreateFunctionInput) {
			in.Code = &types.FunctionCode{ZipFile: victimZip}
		})
		attacker := deploy(t, s, kindPython)

		// The victim writes its /tmp and can read its own code.
		tmpFile := "/tmp/" + secret
		out := probe(t, s, victim, map[string]any{"write": []string{tmpFile}, "read": []string{"/var/task/secret.txt"}})
		if o := outcome(t, out, "write:"+tmpFile); !o.OK {
			t.Fatalf("a function cannot write its own /tmp: %s", o.Error)
		}
		if o := outcome(t, out, "read:/var/task/secret.txt"); !o.OK || o.Value != secret {
			t.Fatalf("a function cannot read its own code: %+v", o)
		}
		// The victim's code on the host, where the worker unpacked it.
		codeDir := filepath.Join(s.dataDir, "worker", "code", codeHex(victimZip))
		if b, err := os.ReadFile(filepath.Join(codeDir, "secret.txt")); err != nil || string(b) != secret {
			t.Fatalf("the victim's code is not at %s on the host (the test's premise): %v", codeDir, err)
		}
		credentials := filepath.Join(s.dataDir, "credentials")
		if _, err := os.Stat(credentials); err != nil {
			t.Fatalf("the server has no credentials file to protect (the test's premise): %v", err)
		}

		// A listener on the host that no sandbox may reach.
		ln, err := net.Listen("tcp4", "0.0.0.0:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		lnPort := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
		_, apiPort, _ := net.SplitHostPort(s.addr)
		connects := []string{"127.0.0.1:" + apiPort, "127.0.0.1:" + lnPort}
		if ip := hostIPv4(); ip != "" {
			connects = append(connects, ip+":"+lnPort, ip+":"+apiPort)
		}

		reads := []string{
			"/var/task/secret.txt",               // the attacker's own /var/task has no such file
			filepath.Join(codeDir, "secret.txt"), // the victim's code, by its host path
			credentials,
			tmpFile, // the victim's /tmp
			"/proc/1/root/var/task/secret.txt",
			filepath.Join(s.dataDir, "jetstream"),
		}
		lists := []string{s.dataDir, filepath.Join(s.dataDir, "worker", "code"), codeDir, "/tmp", "/"}
		writes := []string{"/var/task/x", "/x", "/usr/x", "/etc/x", "/var/runtime/x", "/bin/x"}
		out = probe(t, s, attacker, map[string]any{
			"read": reads, "list": lists, "write": append(writes, "/tmp/mine"), "connect": connects, "pids": true,
			"exists": []string{s.dataDir, credentials, codeDir, "/work", "/root/.pyenv", "/home"},
		})

		// Files: another function's code and /tmp, the data directory, the credentials.
		wantDenied(t, out, "read", reads...)
		wantDenied(t, out, "list", s.dataDir, filepath.Join(s.dataDir, "worker", "code"), codeDir)
		for _, p := range []string{s.dataDir, credentials, codeDir, "/work", "/root/.pyenv"} {
			if out["exists:"+p] == true {
				t.Errorf("a function sees the host path %s", p)
			}
		}
		if o := outcome(t, out, "list:/tmp"); !o.OK {
			t.Errorf("a function cannot list its /tmp: %s", o.Error)
		} else if strings.Contains(fmt.Sprint(o.Value), secret) {
			t.Errorf("another function's /tmp file is visible: /tmp = %v", o.Value)
		}
		if o := outcome(t, out, "list:/"); o.OK {
			t.Logf("/ inside the sandbox: %v", o.Value)
		}
		// Writes: only /tmp.
		wantDenied(t, out, "write", writes...)
		if o := outcome(t, out, "write:/tmp/mine"); !o.OK {
			t.Errorf("a function cannot write /tmp: %s", o.Error)
		}
		// Network: not the API port, not the host.
		wantDenied(t, out, "connect", connects...)
		// Identity: Lambda's sbx_user1051, never root.
		for _, k := range []string{"uid", "euid", "gid"} {
			if v, _ := out[k].(float64); v != 993 {
				t.Errorf("the function runs with %s %v, want 993", k, out[k])
			}
		}
		// Processes: only the sandbox's own.
		pids, _ := out["pids"].([]any)
		hostPids := hostPidCount(t)
		t.Logf("pids inside: %v (host has %d); cmdlines: %v", pids, hostPids, out["cmdlines"])
		if len(pids) == 0 || len(pids) > 10 || len(pids) >= hostPids {
			t.Errorf("the function sees %d processes (host: %d); want only the sandbox's few", len(pids), hostPids)
		}
		for _, c := range out["cmdlines"].([]any) {
			cs := fmt.Sprint(c)
			if strings.Contains(cs, "hearth serve") || strings.Contains(cs, "e2e.test") || strings.Contains(cs, "runsc") {
				t.Errorf("a host process is visible inside the sandbox: %q", cs)
			}
		}
		// The victim's own file is still there for the victim (same env), untouched.
		out = probe(t, s, victim, map[string]any{"read": []string{tmpFile}})
		if o := outcome(t, out, "read:"+tmpFile); !o.OK || o.Value != "x" {
			t.Errorf("the victim lost its own /tmp file: %+v", o)
		}

		t.Run("fork-bomb", func(t *testing.T) {
			const timeout = 10
			bomb := deploy(t, s, kindPython, func(in *lambda.CreateFunctionInput) { in.Timeout = aws.Int32(timeout) })
			var warm echoResponse
			s.invokeOK(t, bomb, map[string]any{"action": "echo"}, invokeOpts{}).decode(t, &warm)
			hadProcesses := len(s.envProcesses(warm.Ctx.LogStream)) > 0
			// Children hold their process slots for 30 s, so only the sandbox's
			// process limit (or its memory limit) can stop the loop.
			r := s.invoke(t, bomb, map[string]any{"action": "forkbomb", "limit": 5000, "hold": 30}, invokeOpts{timeout: 60 * time.Second})
			if r.Status != http.StatusOK {
				t.Fatalf("fork bomb: %s", r)
			}
			if r.FunctionError == "" {
				var v struct {
					Forked int    `json:"forked"`
					Error  string `json:"error"`
				}
				r.decode(t, &v)
				t.Logf("fork bomb: %d forks, then %q, answered in %v", v.Forked, v.Error, r.Elapsed)
				if v.Error == "" || v.Forked >= 5000 {
					t.Errorf("5000 forks all succeeded (%d): the sandbox's process limit is not enforced", v.Forked)
				}
			} else {
				t.Logf("fork bomb ended the env after %v: %s", r.Elapsed, r.Body)
				// The env was killed: nothing of it may stay on the host.
				s.wantEnvGone(t, warm.Ctx.LogStream, hadProcesses, 5*time.Second)
			}
			// Lambda answers a function that overruns its timeout at the timeout.
			if r.Elapsed > (timeout+3)*time.Second {
				t.Errorf("the fork-bomb invocation answered after %v; its timeout is %d s", r.Elapsed, timeout)
			}
			// Others, and the host, are unharmed.
			other := s.invokeOK(t, attacker, map[string]any{"action": "echo"}, invokeOpts{})
			if other.Elapsed > 3*time.Second {
				t.Errorf("another function took %v to answer after the fork bomb", other.Elapsed)
			}
			if err := exec.Command("true").Run(); err != nil {
				t.Errorf("the host cannot start a process after the fork bomb: %v", err)
			}
			// And the bombed function itself answers again.
			eventually(t, 15*time.Second, "the fork-bombed function answers again", func() error {
				r, err := s.invokeE(bomb, map[string]any{"action": "echo"}, invokeOpts{})
				if err != nil {
					return err
				}
				if r.Status != http.StatusOK || r.FunctionError != "" {
					return fmt.Errorf("%s", r)
				}
				return nil
			})
		})

		t.Run("memory-hog", func(t *testing.T) {
			hog := deploy(t, s, kindPython, func(in *lambda.CreateFunctionInput) { in.MemorySize = aws.Int32(128) })
			bystander := deploy(t, s, kindPython)
			s.invokeOK(t, hog, map[string]any{"action": "echo"}, invokeOpts{})
			if n := s.invokeOK(t, bystander, map[string]any{"action": "echo"}, invokeOpts{}).countOf(t); n != 1 {
				t.Fatalf("bystander: count %d, want 1", n)
			}
			r := s.invoke(t, hog, map[string]any{"action": "oom", "mb": 1024}, invokeOpts{timeout: 30 * time.Second})
			wantFunctionError(t, r)
			// The bystander's env survived: its counter goes on.
			if n := s.invokeOK(t, bystander, map[string]any{"action": "echo"}, invokeOpts{}).countOf(t); n != 2 {
				t.Errorf("after another function's OOM the bystander saw count %d, want 2 (its env must survive)", n)
			}
			if n := s.invokeOK(t, victim, map[string]any{"action": "echo"}, invokeOpts{}).countOf(t); n < 3 {
				t.Errorf("after another function's OOM the victim saw count %d, want ≥ 3 (its env must survive)", n)
			}
		})
	})
}

// TestInvokeIsolationPID1 attacks hearth-init from inside a function, on both
// drivers: its memory, its descriptors (a forged Result frame written to its
// stdout, the worker's stream), its environment, ptrace and signals. Every attempt
// must be refused, the answer must be the function's own, and the env must go on
// serving warm. The function itself runs as 993 with no capabilities.
func TestInvokeIsolationPID1(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		s := sandboxServer(t, driver)
		fn := deploy(t, s, kindPython, func(in *lambda.CreateFunctionInput) {
			in.Code = &types.FunctionCode{ZipFile: testdataZip(t, "pyinit", nil)}
		})
		type answer struct {
			Count     int               `json:"count"`
			LogStream string            `json:"log_stream"`
			IDs       []any             `json:"ids"`
			Status    map[string]string `json:"status"`
			Attempts  map[string]struct {
				OK    bool   `json:"ok"`
				Value any    `json:"value"`
				Error string `json:"error"`
			} `json:"attempts"`
		}
		var before answer
		s.invokeOK(t, fn, map[string]any{}, invokeOpts{}).decode(t, &before)

		r := s.invokeOK(t, fn, map[string]any{"action": "attack"}, invokeOpts{timeout: 30 * time.Second})
		var got answer
		if err := json.Unmarshal(r.Body, &got); err != nil || got.Attempts == nil {
			t.Fatalf("the answer is not the function's own (a forged Result?): %s (%v)", r.Body, err)
		}
		t.Logf("attempts on PID 1: %+v", got.Attempts)
		if len(got.Attempts) < 15 {
			t.Errorf("only %d attempts reported: %v", len(got.Attempts), got.Attempts)
		}
		for name, o := range got.Attempts {
			switch {
			case o.OK:
				t.Errorf("the function could %s: %v", name, o.Value)
			case o.Error != "EACCES" && o.Error != "EPERM":
				t.Errorf("%s: %s; want EACCES or EPERM", name, o.Error)
			}
		}
		if want := "[993 993 993 993 []]"; fmt.Sprint(got.IDs) != want {
			t.Errorf("the function's uid, euid, gid, egid, groups = %v, want %s", got.IDs, want)
		}
		for _, k := range []string{"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"} {
			if n, err := strconv.ParseUint(got.Status[k], 16, 64); err != nil || n != 0 {
				t.Errorf("the function's %s = %q, want 0", k, got.Status[k])
			}
		}
		if got.Status["NoNewPrivs"] != "1" {
			t.Errorf("the function's NoNewPrivs = %q, want 1", got.Status["NoNewPrivs"])
		}

		// hearth-init is unharmed: the same env answers, warm, without an exit.
		var after answer
		s.invokeOK(t, fn, map[string]any{}, invokeOpts{}).decode(t, &after)
		if after.Count != before.Count+2 || after.LogStream != before.LogStream {
			t.Errorf("after the attack: count %d in %q, want %d in the same env %q", after.Count, after.LogStream, before.Count+2, before.LogStream)
		}
	})
}
