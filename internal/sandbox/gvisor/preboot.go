package gvisor

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hearthfn/hearth/internal/sandbox"
)

// Pre-booted sandboxes. `runsc run` is most of a gVisor cold start (the Sentry's boot,
// the gofer, the mounts: ~180 ms of ~210 on two cores), and none of it depends on
// the function's code: hearth-init, PID 1, waits for its Init frame on stdin, which
// carries the runtime command and the environment. So once a sandbox shape (every
// field of the spec but its ID, its stderr and the source of /var/task) has been
// started twice, the driver keeps one sandbox of that shape booted ahead, with
// /var/task mounted from an empty directory of its own (the slot). Start takes it,
// hard-links the function's code into the slot (read-only inside, as before), and
// boots the next one in the background.
//
// The code cannot be bind-mounted onto the slot instead: the Sentry opened the
// slot's directory when it booted, and a mount on top of it afterwards stays
// invisible through that descriptor. Hard links are visible and cost ~10 µs a file;
// code with more files than maxSlotEntries, or on another filesystem, takes the
// ordinary path.

const (
	// maxReady bounds the booted, unused sandboxes (memory the host's envs cannot use).
	maxReady = 2
	// maxSlotEntries bounds the files and directories linked into a slot.
	maxSlotEntries = 4096
	// taskTarget is the mount a pre-booted sandbox receives the code on.
	taskTarget = "/var/task"
	// envMarker, in a bundle, names the env a pre-booted sandbox was taken for; its
	// presence tells tools (the bench) that the sandbox is an env, not a spare.
	envMarker = "env"
)

type preboot struct {
	d *Driver

	mu      sync.Mutex
	ready   map[string]*box // shape → booted and not taken
	order   []string        // shapes in ready, least recently booted first
	booting map[string]bool
	seen    map[string]int // shape → Starts seen
	closed  bool
	wg      sync.WaitGroup
}

func newPreboot(d *Driver) *preboot {
	return &preboot{d: d, ready: map[string]*box{}, booting: map[string]bool{}, seen: map[string]int{}}
}

// shape is what two specs must share for a sandbox booted for one to serve the
// other, and whether the spec has a /var/task to fill.
func shape(spec sandbox.Spec) (string, int) {
	task := -1
	mounts := make([]sandbox.Mount, len(spec.Mounts))
	copy(mounts, spec.Mounts)
	for i := range mounts {
		if mounts[i].Target == taskTarget {
			task = i
			mounts[i].Source = ""
		}
	}
	spec.ID, spec.Stderr, spec.Mounts = "", nil, mounts
	return fmt.Sprintf("%#v", spec), task
}

// take returns a booted sandbox for spec with its code in place, or nil; either way
// it may boot one for the next Start of this shape.
func (p *preboot) take(spec sandbox.Spec) *box {
	key, task := shape(spec)
	if task < 0 {
		return nil
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	b := p.ready[key]
	if b != nil {
		delete(p.ready, key)
		p.order = remove(p.order, key)
	}
	if len(p.seen) > 1024 {
		p.seen = map[string]int{} // forget shapes rather than grow without bound
	}
	p.seen[key]++
	again := p.seen[key] >= 2
	p.mu.Unlock()

	if b != nil {
		if err := b.fill(spec, spec.Mounts[task].Source); err != nil {
			go b.Kill(context.Background())
			b = nil
		}
	}
	if b != nil || again {
		p.boot(key, spec)
	}
	return b
}

// boot starts a sandbox of spec's shape in the background, unless one is booting.
func (p *preboot) boot(key string, spec sandbox.Spec) {
	p.mu.Lock()
	if p.closed || p.booting[key] || p.ready[key] != nil {
		p.mu.Unlock()
		return
	}
	p.booting[key] = true
	p.wg.Add(1)
	p.mu.Unlock()
	go func() {
		defer p.wg.Done()
		b, err := p.d.bootSpare(spec)
		p.mu.Lock()
		delete(p.booting, key)
		if err != nil || p.closed {
			p.mu.Unlock()
			if b != nil {
				b.Kill(context.Background())
			}
			return
		}
		p.ready[key] = b
		p.order = append(p.order, key)
		var evicted []*box
		for len(p.order) > maxReady {
			evicted = append(evicted, p.ready[p.order[0]])
			delete(p.ready, p.order[0])
			p.order = p.order[1:]
		}
		p.mu.Unlock()
		for _, e := range evicted {
			e.Kill(context.Background())
		}
	}()
}

// close kills the spare sandboxes and waits for boots in progress.
func (p *preboot) close() {
	p.mu.Lock()
	p.closed = true
	spares := p.ready
	p.ready, p.order = map[string]*box{}, nil
	p.mu.Unlock()
	p.wg.Wait()
	for _, b := range spares {
		b.Kill(context.Background())
	}
}

func remove(s []string, v string) []string {
	for i := range s {
		if s[i] == v {
			return append(s[:i], s[i+1:]...)
		}
	}
	return s
}

// bootSpare runs a sandbox of spec's shape whose /var/task is an empty slot.
func (d *Driver) bootSpare(spec sandbox.Spec) (*box, error) {
	var r [8]byte
	rand.Read(r[:])
	rid := "spare-" + hex.EncodeToString(r[:])
	bundle := filepath.Join(d.cfg.StateDir, "bundles", rid)
	slot := filepath.Join(bundle, "task")
	if err := os.MkdirAll(slot, 0o755); err != nil {
		return nil, fmt.Errorf("gvisor: %w", err)
	}
	spare := spec
	spare.ID, spare.Stderr = rid, nil
	spare.Mounts = make([]sandbox.Mount, len(spec.Mounts))
	copy(spare.Mounts, spec.Mounts)
	for i := range spare.Mounts {
		if spare.Mounts[i].Target == taskTarget {
			spare.Mounts[i].Source = slot
		}
	}
	if err := writeBundle(bundle, spare, d.cfg.CgroupParent); err != nil {
		os.RemoveAll(bundle)
		return nil, err
	}
	b, err := startProcess(d.runsc("run", "--bundle", bundle, rid), spare, d, bundle)
	if err != nil {
		os.RemoveAll(bundle)
		return nil, err
	}
	b.slot = slot
	return b, nil
}

// fill makes a spare sandbox spec's: the code linked into its slot, its ID, stderr
// and memory peak.
func (b *box) fill(spec sandbox.Spec, code string) error {
	select {
	case <-b.done:
		return errors.New("gvisor: the spare sandbox exited")
	default:
	}
	if err := linkTree(code, b.slot, maxSlotEntries); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(b.bundle, envMarker), []byte(spec.ID), 0o600); err != nil {
		return fmt.Errorf("gvisor: %w", err)
	}
	b.id = spec.ID
	b.stderr.set(spec.Stderr)
	b.resetPeak()
	return nil
}

// resetPeak starts the memory peak afresh: the Sentry's boot is not the function's.
func (b *box) resetPeak() {
	rel := filepath.Join(b.d.cfg.CgroupParent, b.rid)
	if cgroupV2() {
		// memory.peak is reset by writing to it since Linux 6.12; older kernels refuse.
		_ = os.WriteFile(filepath.Join("/sys/fs/cgroup", rel, "memory.peak"), []byte("0"), 0o644)
		return
	}
	_ = os.WriteFile(filepath.Join("/sys/fs/cgroup/memory", rel, "memory.max_usage_in_bytes"), []byte("0"), 0o644)
}

// linkTree recreates the tree at src in the empty directory dst with hard links to
// src's files, symbolic links as they are, and directories with src's modes. It
// gives up past max entries.
func linkTree(src, dst string, max int) error {
	n := 0
	start := time.Now()
	err := filepath.WalkDir(src, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if n++; n > max {
			return fmt.Errorf("more than %d files", max)
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		to := filepath.Join(dst, rel)
		switch {
		case e.IsDir():
			info, err := e.Info()
			if err != nil {
				return err
			}
			if rel != "." {
				if err := os.Mkdir(to, 0o700); err != nil {
					return err
				}
			}
			// Chmod, not Mkdir's mode: the umask must not narrow it.
			return os.Chmod(to, info.Mode().Perm())
		case e.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(path)
			if err != nil {
				return err
			}
			return os.Symlink(target, to)
		case e.Type().IsRegular():
			return os.Link(path, to)
		default:
			return nil // sockets, devices, fifos: nothing a zip holds
		}
	})
	if err != nil {
		return fmt.Errorf("gvisor: link the code into a pre-booted sandbox (after %v): %w", time.Since(start).Round(time.Microsecond), err)
	}
	return nil
}
