package gvisor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Freeze and thaw through the sandbox's host cgroup freezer (v1 freezer.state, v2
// cgroup.freeze): every host task of the sandbox — the Sentry, its systrap stubs,
// the gofer — stops, as a task on a frozen Lambda env does. `runsc pause` and
// `resume` did the same inside the Sentry, but each is a runsc process start:
// ~40 ms under load, on every invoke that met a frozen env (a provisioned env's
// first one among them), where the cgroup takes ~2–3 ms. Where the sandbox has no
// freezer cgroup, runsc's commands remain. A task under a cgroup freezer cannot act
// on SIGKILL, so Kill (and the watchdog) thaw first.

// freezeTimeout bounds waiting for the kernel to report a freeze or thaw done.
const freezeTimeout = 2 * time.Second

// freezer is the sandbox's freezer control file, the values that freeze and thaw,
// and how to read whether it is frozen.
func (b *box) freezer() (ctl, frozen, thawed string, isFrozen func() (bool, error)) {
	rel := filepath.Join(b.d.cfg.CgroupParent, b.rid)
	if cgroupV2() {
		dir := filepath.Join("/sys/fs/cgroup", rel)
		return filepath.Join(dir, "cgroup.freeze"), "1", "0", func() (bool, error) {
			ev, err := os.ReadFile(filepath.Join(dir, "cgroup.events"))
			return strings.Contains(string(ev), "frozen 1"), err
		}
	}
	state := filepath.Join("/sys/fs/cgroup/freezer", rel, "freezer.state")
	return state, "FROZEN", "THAWED", func() (bool, error) {
		s, err := os.ReadFile(state)
		return strings.TrimSpace(string(s)) == "FROZEN", err
	}
}

// setFrozen freezes or thaws the sandbox's cgroup and waits until the kernel says
// so. errNoFreezer: the sandbox has no freezer cgroup.
func (b *box) setFrozen(ctx context.Context, freeze bool) error {
	ctl, frozen, thawed, isFrozen := b.freezer()
	val := thawed
	if freeze {
		val = frozen
	}
	if err := os.WriteFile(ctl, []byte(val), 0); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return errNoFreezer
		}
		return err
	}
	deadline := time.Now().Add(freezeTimeout)
	for wait := 50 * time.Microsecond; ; wait = min(wait*2, 5*time.Millisecond) {
		got, err := isFrozen()
		if err == nil && got == freeze {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			if freeze {
				_ = os.WriteFile(ctl, []byte(thawed), 0) // not left half frozen
			}
			return fmt.Errorf("gvisor: the freezer of %s did not settle (%v)", b.rid, err)
		}
		time.Sleep(wait)
	}
}

var errNoFreezer = errors.New("gvisor: the sandbox has no freezer cgroup")

// Freeze stops every task of the sandbox.
func (b *box) Freeze(ctx context.Context) error {
	err := b.setFrozen(ctx, true)
	if errors.Is(err, errNoFreezer) {
		return b.d.command(ctx, "pause", b.rid)
	}
	if err == nil {
		b.cgFrozen.Store(true)
	}
	return err
}

// Thaw resumes them.
func (b *box) Thaw(ctx context.Context) error {
	if !b.cgFrozen.Load() {
		return b.d.command(ctx, "resume", b.rid)
	}
	if err := b.setFrozen(ctx, false); err != nil {
		return err
	}
	b.cgFrozen.Store(false)
	return nil
}
