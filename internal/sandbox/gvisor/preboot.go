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
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hearthfn/hearth/internal/sandbox"
)

// Pre-booted sandboxes. `runsc run` is most of a gVisor cold start (the Sentry's boot,
// the gofer, the mounts: ~180 ms of ~210 on two cores), and none of it depends on
// the function's code: hearth-init, PID 1, waits for its Init frame on stdin, which
// carries the runtime command and the environment. So once a sandbox shape (every
// field of the spec but its ID, its stderr and the source of /var/task) has been
// started twice, the driver keeps sandboxes of that shape booted ahead, with
// /var/task mounted from an empty directory of its own (the slot). Start takes one,
// hard-links the function's code into the slot (read-only inside, as before), and
// the driver boots replacements in the background.
//
// How many: as many as the largest burst of Starts of that shape in the last
// demandWindow (a burst: Starts less than burstGap apart), at least one, at most
// maxReady in all. Ten parallel first invocations spent ~0.6 s of CPU each, ~0.4 s
// of it booting the Sentry, so a burst that finds its sandboxes booted needs a
// third of the CPU. Replacements wait until the shape's burst has paused
// (refillAfter), one at a time, so they do not take CPU from the starts they are
// meant to spare; spares beyond the demand are killed once it has passed.
//
// The code cannot be bind-mounted onto the slot instead: the Sentry opened the
// slot's directory when it booted, and a mount on top of it afterwards stays
// invisible through that descriptor. Hard links are visible and cost ~10 µs a file;
// code with more files than maxSlotEntries, or on another filesystem, takes the
// ordinary path.

const (
	// maxReady bounds the booted, unused sandboxes (memory the host's envs cannot
	// use: ~17 MB each, idle, as their memory cgroups count it).
	maxReady = 10
	// burstGap, demandWindow, refillAfter: see above.
	burstGap     = 2 * time.Second
	demandWindow = time.Minute
	refillAfter  = 250 * time.Millisecond
	// maxBusyToBoot: a spare is booted only while the host's CPUs were less busy
	// than this over the last refillAfter.
	maxBusyToBoot = 0.5
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
	ready   map[string][]*box // shape → booted and not taken (no empty lists)
	order   []*box            // every ready sandbox, least recently booted first
	booting map[string]bool   // shape → a refill loop runs
	demand  map[string]*demand
	closed  bool
	stop    chan struct{}
	wg      sync.WaitGroup
}

// demand is what a shape's Starts asked for lately.
type demand struct {
	seen   int       // Starts
	last   time.Time // the latest Start
	burst  int       // Starts in the current burst
	peak   int       // the largest burst in the window
	peakAt time.Time // when it was
}

// record counts a Start at now.
func (dm *demand) record(now time.Time) {
	dm.seen++
	if now.Sub(dm.last) < burstGap {
		dm.burst++
	} else {
		dm.burst = 1
	}
	dm.last = now
	if dm.burst >= dm.peak || now.Sub(dm.peakAt) > demandWindow {
		dm.peak, dm.peakAt = dm.burst, now
	}
}

func newPreboot(d *Driver) *preboot {
	p := &preboot{d: d, ready: map[string][]*box{}, booting: map[string]bool{}, demand: map[string]*demand{}, stop: make(chan struct{})}
	p.wg.Add(1)
	go p.trimLoop()
	return p
}

// want is how many sandboxes of a shape to keep ready; p.mu held.
func (p *preboot) want(key string, now time.Time) int {
	dm := p.demand[key]
	if dm == nil || dm.seen < 2 {
		return 0
	}
	if now.Sub(dm.peakAt) > demandWindow {
		return 1
	}
	return min(max(dm.peak, 1), maxReady)
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
// it may start refilling this shape's spares.
func (p *preboot) take(spec sandbox.Spec) *box {
	key, task := shape(spec)
	if task < 0 {
		return nil
	}
	if p.d.cfg.Network != nil {
		// Networked or not, nothing more: a spare's address is leased when it
		// boots, never part of the spec, so every env of a shape can take it.
		key = "networked " + key
	}
	now := time.Now()
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	var b *box
	if r := p.ready[key]; len(r) > 0 {
		b = r[len(r)-1]
		p.setReady(key, r[:len(r)-1])
		p.order = removeBox(p.order, b)
	}
	if len(p.demand) > 1024 {
		p.demand = map[string]*demand{} // forget shapes rather than grow without bound
	}
	dm := p.demand[key]
	if dm == nil {
		dm = &demand{}
		p.demand[key] = dm
	}
	dm.record(now)
	refill := p.want(key, now) > 0
	p.mu.Unlock()

	if b != nil {
		if err := b.fill(spec, spec.Mounts[task].Source); err != nil {
			go b.Kill(context.Background())
			b = nil
		}
	}
	if refill {
		p.refill(key, spec)
	}
	return b
}

// setReady stores a shape's ready list, dropping the key when it is empty; p.mu held.
func (p *preboot) setReady(key string, r []*box) {
	if len(r) == 0 {
		delete(p.ready, key)
		return
	}
	p.ready[key] = r
}

// refill boots sandboxes of spec's shape in the background, one at a time, until
// the shape has as many ready as it wants; unless a refill of it runs already.
func (p *preboot) refill(key string, spec sandbox.Spec) {
	p.mu.Lock()
	if p.closed || p.booting[key] {
		p.mu.Unlock()
		return
	}
	p.booting[key] = true
	p.wg.Add(1)
	p.mu.Unlock()
	go func() {
		defer p.wg.Done()
		for {
			// Wait for the burst to pause: the starts need the CPU now.
			p.mu.Lock()
			var quiet time.Duration
			if dm := p.demand[key]; dm != nil {
				quiet = refillAfter - time.Since(dm.last)
			}
			p.mu.Unlock()
			if quiet > 0 {
				select {
				case <-time.After(quiet):
					continue
				case <-p.stop:
				}
			}
			p.mu.Lock()
			// Stop at the shape's want, or when the spares are at maxReady in all
			// (shapes that together want more share what there is; trimLoop frees
			// room once a burst has passed).
			if p.closed || len(p.ready[key]) >= p.want(key, time.Now()) || len(p.order) >= maxReady {
				delete(p.booting, key)
				p.mu.Unlock()
				return
			}
			p.mu.Unlock()
			// Spares are booted with CPU nobody else wants: the starts of the burst
			// go on for seconds after its last Start, and a boot beside them slowed
			// ten parallel cold starts by a third.
			if busy := hostBusy(refillAfter); busy > maxBusyToBoot {
				continue
			}
			b, err := p.d.bootSpare(spec)
			p.mu.Lock()
			if err != nil || p.closed {
				delete(p.booting, key)
				p.mu.Unlock()
				if b != nil {
					b.Kill(context.Background())
				}
				return
			}
			p.setReady(key, append(p.ready[key], b))
			p.order = append(p.order, b)
			p.mu.Unlock()
		}
	}()
}

// hostBusy is the fraction of the host's CPU time that was not idle over d
// (/proc/stat); 0 when it cannot be read.
func hostBusy(d time.Duration) float64 {
	read := func() (busy, total uint64) {
		b, err := os.ReadFile("/proc/stat")
		if err != nil {
			return 0, 0
		}
		line, _, _ := strings.Cut(string(b), "\n")
		f := strings.Fields(line)
		if len(f) < 5 || f[0] != "cpu" {
			return 0, 0
		}
		for i, v := range f[1:] {
			n, _ := strconv.ParseUint(v, 10, 64)
			total += n
			if i != 3 && i != 4 { // idle, iowait
				busy += n
			}
		}
		return busy, total
	}
	b0, t0 := read()
	time.Sleep(d)
	b1, t1 := read()
	if t1 <= t0 {
		return 0
	}
	return float64(b1-b0) / float64(t1-t0)
}

// dropLocked forgets a ready sandbox; p.mu held.
func (p *preboot) dropLocked(b *box) {
	p.order = removeBox(p.order, b)
	for key, r := range p.ready {
		if slices.Contains(r, b) {
			p.setReady(key, removeBox(r, b))
			return
		}
	}
}

// trimLoop kills, every few seconds, the spares a shape no longer wants (its
// burst has left the window).
func (p *preboot) trimLoop() {
	defer p.wg.Done()
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
		now := time.Now()
		var extra []*box
		p.mu.Lock()
		for key, r := range p.ready {
			if n := len(r) - p.want(key, now); n > 0 {
				// The oldest first: they are at the front of the list.
				extra = append(extra, r[:n]...)
			}
		}
		for _, b := range extra {
			p.dropLocked(b)
		}
		p.mu.Unlock()
		for _, b := range extra {
			b.Kill(context.Background())
		}
	}
}

// close kills the spare sandboxes and waits for boots in progress.
func (p *preboot) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	close(p.stop)
	spares := p.order
	p.ready, p.order = map[string][]*box{}, nil
	p.mu.Unlock()
	p.wg.Wait()
	for _, b := range spares {
		b.Kill(context.Background())
	}
}

// removeBox is s without b, in a new slice (s may be shared).
func removeBox(s []*box, b *box) []*box {
	return slices.DeleteFunc(slices.Clone(s), func(x *box) bool { return x == b })
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
	// With a network the spare is plumbed here, before it boots: a cold start that
	// takes it pays nothing for the network.
	b, err := d.boot(spare, rid, bundle)
	if err != nil {
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
