//go:build linux

package gvisor

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hearthfn/hearth/internal/sandbox/sandboxtest"
)

// TestReapPausedSandbox: what the watchdog (and New after a crash) does ends a
// paused sandbox and a booted-ahead one — runsc, gofer, Sentry — and leaves the
// state directory removable: no bundle, no runsc state, no null-netns mount.
func TestReapPausedSandbox(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("gVisor sandboxes need root")
	}
	state := stateDir(t)
	d, err := New(Config{Runsc: runscPath(t), StateDir: state, CgroupParent: "hearth-gvisor-test", PreBoot: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	probe := sandboxtest.BuildProbe(t)
	p1 := sandboxtest.StartProbe(t, d, probe.Spec(t))
	p2 := sandboxtest.StartProbe(t, d, probe.Spec(t)) // the shape's second start: one is booted ahead
	p1.Must("echo hi")
	if err := p1.SB.Freeze(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Wait for the spares the driver wants (as many as the burst of starts) to boot.
	deadline := time.Now().Add(20 * time.Second)
	spares := 0
	for time.Now().Before(deadline) {
		d.pre.mu.Lock()
		booting, ready := len(d.pre.booting), len(d.pre.order)
		d.pre.mu.Unlock()
		if booting == 0 && ready > 0 {
			spares = ready
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if spares == 0 {
		t.Fatal("no sandbox was booted ahead in 20s")
	}
	// And for their boots to finish: the process count holds still (stubs share the
	// Sentry's command line, so the count alone can be reached mid-boot).
	last, since := -1, time.Now()
	for time.Now().Before(deadline) {
		n := len(runscProcesses(d.root))
		if n != last {
			last, since = n, time.Now()
		} else if n >= 3*(2+spares) && time.Since(since) > 500*time.Millisecond {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := len(runscProcesses(d.root)); n < 3*(2+spares) { // runsc, gofer, Sentry each
		t.Fatalf("%d runsc processes, want at least %d (%d sandboxes)", n, 3*(2+spares), 2+spares)
	}

	n, err := reap(d.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2+spares {
		t.Errorf("reap found %d sandboxes, want %d (paused, running, %d booted ahead)", n, 2+spares, spares)
	}
	for _, p := range []*sandboxtest.Probe{p1, p2} {
		select {
		case <-p.SB.Done():
		case <-time.After(5 * time.Second):
			t.Errorf("sandbox %s still running after reap", p.SB.ID())
		}
	}
	if left := runscProcesses(d.root); len(left) > 0 {
		t.Errorf("runsc processes left: %v", left)
	}
	if ids := leftoverIDs(state, d.root); len(ids) > 0 {
		t.Errorf("bundles or runsc state left for %v", ids)
	}
	if err := unmount(filepath.Join(d.root, "null-netns")); err == nil {
		t.Error("null-netns was still mounted")
	}
}

func TestLeftoverIDs(t *testing.T) {
	state := t.TempDir()
	root := filepath.Join(state, "root")
	for _, p := range []string{
		"bundles/env-a/rootfs",
		"bundles/spare-b",
	} {
		os.MkdirAll(filepath.Join(state, p), 0o700)
	}
	os.MkdirAll(root, 0o700)
	for _, f := range []string{
		"env-a_sandbox:env-a.state",
		"env-c_sandbox:env-c.lock",
		"runsc-env-d.sock",
		"null-netns",
		"bad id_sandbox:x.state",
	} {
		os.WriteFile(filepath.Join(root, f), nil, 0o600)
	}
	got := leftoverIDs(state, root)
	sort.Strings(got)
	if want := []string{"env-a", "env-c", "env-d", "spare-b"}; !reflect.DeepEqual(got, want) {
		t.Errorf("leftoverIDs = %q, want %q", got, want)
	}
}

// TestSecondDriverRefused: one live driver per state directory; a second one is
// told so rather than reaping the first one's sandboxes.
func TestSecondDriverRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("gVisor sandboxes need root")
	}
	state := stateDir(t)
	d, err := New(Config{Runsc: runscPath(t), StateDir: state, CgroupParent: "hearth-gvisor-test"})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	f, err := lockState(state, 50*time.Millisecond)
	if err == nil {
		f.Close()
		t.Fatal("a second lock on a live driver's state directory was granted")
	}
	if !strings.Contains(err.Error(), "in use") {
		t.Errorf("error %q does not say the directory is in use", err)
	}
}
