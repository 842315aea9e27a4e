//go:build linux

package gvisor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

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

func TestConformance(t *testing.T) { runConformance(t, false) }

// TestConformancePreBoot runs the suite again with sandboxes booted ahead: most of
// its sandboxes share a shape, so most of them are pre-booted ones.
func TestConformancePreBoot(t *testing.T) { runConformance(t, true) }

func runConformance(t *testing.T, preboot bool) {
	if os.Geteuid() != 0 {
		t.Skip("gVisor sandboxes need root")
	}
	runsc := runscPath(t)
	state := stateDir(t)
	var d *Driver
	sandboxtest.RunWithOptions(t, func(t *testing.T) sandbox.Driver {
		if d == nil {
			var err error
			d, err = New(Config{Runsc: runsc, StateDir: state, CgroupParent: "hearth-gvisor-test", PreBoot: preboot})
			if err != nil {
				t.Fatal(err)
			}
		}
		return d
	}, sandboxtest.InitProgram{}, sandboxtest.Options{UserKernel: true})
	if d != nil {
		d.Close()
	}
}

// stateDir is a runsc state directory removed when the test ends. Not t.TempDir:
// runsc bind-mounts a network namespace file under its root, which RemoveAll cannot
// delete until it is unmounted.
func stateDir(t *testing.T) string {
	state, err := os.MkdirTemp("", "hearth-gvisor-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Unmount(filepath.Join(state, "root", "null-netns"), syscall.MNT_DETACH)
		_ = os.RemoveAll(state)
	})
	return state
}

// TestPreBootServesTheRightCode: once a shape has started twice, the next sandbox of
// that shape is a pre-booted one, and it holds its own function's code only.
func TestPreBootServesTheRightCode(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("gVisor sandboxes need root")
	}
	d, err := New(Config{Runsc: runscPath(t), StateDir: stateDir(t), CgroupParent: "hearth-gvisor-test", PreBoot: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	init := sandboxtest.BuildProbe(t)
	withCode := func(content string) sandbox.Spec {
		spec := init.Spec(t)
		for i, m := range spec.Mounts {
			if m.Target == "/var/task" {
				os.WriteFile(filepath.Join(m.Source, "handler.txt"), []byte(content), 0o644)
				os.Mkdir(filepath.Join(m.Source, "pkg"), 0o755)
				os.WriteFile(filepath.Join(m.Source, "pkg", content+".txt"), []byte(content), 0o600)
				os.Symlink("handler.txt", filepath.Join(m.Source, "link"))
				spec.Mounts[i] = m
			}
		}
		return spec
	}
	for i := range 2 {
		p := sandboxtest.StartProbe(t, d, withCode(fmt.Sprintf("first %d", i)))
		p.SB.Kill(context.Background())
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		d.pre.mu.Lock()
		n := len(d.pre.ready)
		d.pre.mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no sandbox was booted ahead after two starts of one shape")
		}
		time.Sleep(20 * time.Millisecond)
	}
	spec := withCode("second")
	p := sandboxtest.StartProbe(t, d, spec)
	if b := p.SB.(*box); !strings.HasPrefix(b.rid, "spare-") || p.SB.ID() != spec.ID {
		t.Fatalf("third start: runsc ID %q, ID() %q; want a pre-booted sandbox reporting %q", b.rid, p.SB.ID(), spec.ID)
	}
	for cmd, want := range map[string]string{
		"read /var/task/handler.txt":                   strconv.Quote("second"),
		"read /var/task/link":                          strconv.Quote("second"),
		"asuser 993 993 read /var/task/pkg/second.txt": "", // 0600 root's file: the function's uid may not read it
	} {
		if want == "" {
			p.Fails(cmd)
			continue
		}
		if got := p.Must(cmd); got != want {
			t.Errorf("%s = %s, want %s", cmd, got, want)
		}
	}
	if got := p.Must("listdir /var/task/pkg"); strings.Contains(got, "first") {
		t.Errorf("the pre-booted sandbox shows another function's files: %s", got)
	}
	p.Fails("write /var/task/handler.txt")
	// The next start of the shape gets the spare booted meanwhile, or a fresh one.
	p2 := sandboxtest.StartProbe(t, d, withCode("third"))
	if got := p2.Must("read /var/task/handler.txt"); got != strconv.Quote("third") {
		t.Errorf("fourth start reads %s", got)
	}
}

func TestShapeIgnoresIDStderrAndCode(t *testing.T) {
	a := sandbox.Spec{ID: "env-a", Init: "/var/runtime/hearth-init", MemoryMB: 128, TmpMB: 512,
		Mounts: []sandbox.Mount{{Source: "/code/a", Target: "/var/task", ReadOnly: true}, {Source: "/rt/python", Target: "/var/runtime", ReadOnly: true}}}
	b := a
	b.ID, b.Stderr = "env-b", os.Stderr
	b.Mounts = []sandbox.Mount{{Source: "/code/b", Target: "/var/task", ReadOnly: true}, a.Mounts[1]}
	ka, ta := shape(a)
	kb, _ := shape(b)
	if ka != kb || ta != 0 {
		t.Errorf("specs differing only in ID, stderr and code have shapes %q and %q (task mount %d)", ka, kb, ta)
	}
	if a.Mounts[0].Source != "/code/a" {
		t.Error("shape changed the caller's mounts")
	}
	for _, change := range []func(*sandbox.Spec){
		func(s *sandbox.Spec) { s.MemoryMB = 256 },
		func(s *sandbox.Spec) { s.TmpMB = 1024 },
		func(s *sandbox.Spec) {
			s.Mounts = []sandbox.Mount{a.Mounts[0], {Source: "/rt/node", Target: "/var/runtime", ReadOnly: true}}
		},
	} {
		c := a
		change(&c)
		if k, _ := shape(c); k == ka {
			t.Errorf("a spec with other limits or another runtime shares a's shape: %+v", c)
		}
	}
	if _, task := shape(sandbox.Spec{ID: "x"}); task != -1 {
		t.Errorf("a spec without /var/task: task mount %d, want -1", task)
	}
}

func TestLinkTree(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	os.MkdirAll(filepath.Join(src, "lib", "deep"), 0o750)
	os.WriteFile(filepath.Join(src, "bootstrap"), []byte("#!/bin/sh\n"), 0o755)
	os.WriteFile(filepath.Join(src, "lib", "deep", "mod.py"), []byte("x = 1\n"), 0o644)
	os.Symlink("lib/deep/mod.py", filepath.Join(src, "alias.py"))
	os.Chmod(src, 0o711)
	if err := linkTree(src, dst, 100); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		rel  string
		mode os.FileMode
	}{{".", os.ModeDir | 0o711}, {"lib/deep", os.ModeDir | 0o750}, {"bootstrap", 0o755}, {"lib/deep/mod.py", 0o644}} {
		fi, err := os.Lstat(filepath.Join(dst, c.rel))
		if err != nil || fi.Mode() != c.mode {
			t.Errorf("%s: mode %v (%v), want %v", c.rel, fi.Mode(), err, c.mode)
		}
	}
	a, _ := os.Stat(filepath.Join(src, "bootstrap"))
	b, _ := os.Stat(filepath.Join(dst, "bootstrap"))
	if !os.SameFile(a, b) {
		t.Error("bootstrap was copied, not hard-linked")
	}
	if l, err := os.Readlink(filepath.Join(dst, "alias.py")); err != nil || l != "lib/deep/mod.py" {
		t.Errorf("symlink: %q, %v", l, err)
	}
	if err := linkTree(src, t.TempDir(), 3); err == nil {
		t.Error("a tree of 7 entries was linked under a limit of 3")
	}
}

// TestPreBootFallsBack: code a spare cannot take (here: more entries than a slot
// links) boots the ordinary way, and still runs.
func TestPreBootFallsBack(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("gVisor sandboxes need root")
	}
	d, err := New(Config{Runsc: runscPath(t), StateDir: stateDir(t), CgroupParent: "hearth-gvisor-test", PreBoot: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	init := sandboxtest.BuildProbe(t)
	for range 2 {
		p := sandboxtest.StartProbe(t, d, init.Spec(t))
		p.SB.Kill(context.Background())
	}
	spec := init.Spec(t)
	for _, m := range spec.Mounts {
		if m.Target == "/var/task" {
			for i := range maxSlotEntries {
				os.WriteFile(filepath.Join(m.Source, fmt.Sprintf("f%d", i)), nil, 0o644)
			}
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		d.pre.mu.Lock()
		n := len(d.pre.ready)
		d.pre.mu.Unlock()
		if n > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	p := sandboxtest.StartProbe(t, d, spec)
	if b := p.SB.(*box); b.rid != spec.ID {
		t.Errorf("code of %d files ran in pre-booted sandbox %s; want the ordinary path", maxSlotEntries, b.rid)
	}
	if got := p.Must("read /var/task/handler.txt"); got != strconv.Quote("function code\n") {
		t.Errorf("read /var/task/handler.txt = %s", got)
	}
}
