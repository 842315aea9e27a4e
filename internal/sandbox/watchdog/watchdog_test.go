//go:build linux

package watchdog

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary plays three parts, chosen by its first argument:
//
//	testWatchdogArg FILE  a watchdog: writes "died" or "stopped" to FILE when Wait returns
//	testParentArg FILE    a driver's process: starts a watchdog, prints its pid, waits to be killed
const (
	testWatchdogArg = "__test-watchdog"
	testParentArg   = "__test-parent"
)

func TestMain(m *testing.M) {
	if len(os.Args) > 2 {
		switch os.Args[1] {
		case testWatchdogArg:
			what := "stopped"
			if Wait() {
				what = "died"
			}
			os.WriteFile(os.Args[2], []byte(what), 0o600)
			os.Exit(0)
		case testParentArg:
			p, err := Start(testWatchdogArg, os.Args[2])
			if err != nil {
				os.Exit(1)
			}
			os.Stdout.WriteString(strconv.Itoa(p.Pid()) + "\n")
			select {} // until killed
		}
	}
	os.Exit(m.Run())
}

// waitFile waits for the watchdog's report.
func waitFile(t *testing.T, path string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
			return string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the watchdog wrote nothing to %s within 10s", path)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestStop: a clean stop ends the watchdog without its cleanup.
func TestStop(t *testing.T) {
	out := filepath.Join(t.TempDir(), "report")
	p, err := Start(testWatchdogArg, out)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	if got := waitFile(t, out); got != "stopped" {
		t.Errorf("after Stop the watchdog reported %q, want stopped", got)
	}
	if err := p.Stop(); err != nil { // idempotent
		t.Errorf("second Stop: %v", err)
	}
}

// TestParentKilled: a kill -9 of the whole process group of the watchdog's parent
// leaves the watchdog (its own session) to notice and clean up.
func TestParentKilled(t *testing.T) {
	out := filepath.Join(t.TempDir(), "report")
	parent := exec.Command(os.Args[0], testParentArg, out)
	parent.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := parent.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := parent.Start(); err != nil {
		t.Fatal(err)
	}
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- s
	}()
	var dog int
	select {
	case s := <-line:
		dog, _ = strconv.Atoi(strings.TrimSpace(s))
	case <-time.After(10 * time.Second):
		parent.Process.Kill()
		t.Fatal("the parent did not start its watchdog within 10s")
	}
	if dog == 0 {
		t.Fatal("the parent could not start its watchdog")
	}
	if err := syscall.Kill(-parent.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	parent.Wait()
	if got := waitFile(t, out); got != "died" {
		t.Errorf("after its parent's group was killed the watchdog reported %q, want died", got)
	}
	// It exits after its work (reaped by init, or a zombie until then).
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(dog) + "/stat")
		if err != nil || bytes.Contains(b, []byte(") Z ")) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("watchdog %d still running 10s after its report", dog)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
