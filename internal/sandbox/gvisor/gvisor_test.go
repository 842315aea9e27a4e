//go:build linux

package gvisor

import (
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"

	"github.com/hearthfn/hearth/internal/sandbox"
	"github.com/hearthfn/hearth/internal/sandbox/sandboxtest"
)

// runscPath finds the runsc that `make build` installs in the repository's bin/.
func runscPath(t *testing.T) string {
	if p := os.Getenv("HEARTH_RUNSC"); p != "" {
		return p
	}
	_, file, _, _ := runtime.Caller(0)
	p := filepath.Join(filepath.Dir(file), "..", "..", "..", "bin", "runsc")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("runsc not found at %s: run `make build` (it installs gVisor's runsc) or set HEARTH_RUNSC", p)
	}
	return p
}

func TestConformance(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("gVisor sandboxes need root")
	}
	runsc := runscPath(t)
	// Not t.TempDir: runsc bind-mounts a network namespace file under its root,
	// which RemoveAll cannot delete until it is unmounted.
	state, err := os.MkdirTemp("", "hearth-gvisor-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Unmount(filepath.Join(state, "root", "null-netns"), syscall.MNT_DETACH)
		_ = os.RemoveAll(state)
	})
	var d *Driver
	sandboxtest.RunWithOptions(t, func(t *testing.T) sandbox.Driver {
		if d == nil {
			var err error
			d, err = New(Config{Runsc: runsc, StateDir: state, CgroupParent: "hearth-gvisor-test"})
			if err != nil {
				t.Fatal(err)
			}
		}
		return d
	}, sandboxtest.InitProgram{}, sandboxtest.Options{UserKernel: true})
}
