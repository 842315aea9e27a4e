package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Cold-start samples must not overlap the teardown of the previous sample's env
// (runsc kill/delete, cgroup removal): on two cores that would be measured as cold
// start time. The bench server runs with a short --idle-ttl, and before each sample
// we wait until the reaper has removed every env process: a descendant of hearth
// serve that is not hearth itself (the namespace driver's pre-started setup
// processes are hearth; hearth-init, runtimes and runsc are not).

type procInfo struct {
	ppid int
	comm string
	cpu  time.Duration // user + system, in clock ticks' resolution
	// reaped is the user + system time of the children it has waited for: processes
	// that ran and exited (runsc's create/start commands, a failed setup).
	reaped time.Duration
}

// clockTick is USER_HZ, 100 on every Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

func procTable() map[int]procInfo {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	out := make(map[int]procInfo, len(ents))
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid …; comm may hold spaces and parentheses.
		open, close := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
		if open < 0 || close < open {
			continue
		}
		// state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime …
		f := bytes.Fields(b[close+1:])
		if len(f) < 15 {
			continue
		}
		ppid, _ := strconv.Atoi(string(f[1]))
		ut, _ := strconv.ParseInt(string(f[11]), 10, 64)
		st, _ := strconv.ParseInt(string(f[12]), 10, 64)
		cut, _ := strconv.ParseInt(string(f[13]), 10, 64)
		cst, _ := strconv.ParseInt(string(f[14]), 10, 64)
		out[pid] = procInfo{ppid: ppid, comm: string(b[open+1 : close]), cpu: time.Duration(ut+st) * clockTick, reaped: time.Duration(cut+cst) * clockTick}
	}
	return out
}

// descendants lists root's descendants in t.
func descendants(t map[int]procInfo, root int) []int {
	children := map[int][]int{}
	for pid, p := range t {
		children[p.ppid] = append(children[p.ppid], pid)
	}
	var out []int
	stack := []int{root}
	for len(stack) > 0 {
		pid := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		out = append(out, children[pid]...)
		stack = append(stack, children[pid]...)
	}
	return out
}

// envProcs counts root's descendants whose command is not root's own, leaving out
// the processes of spare gVisor sandboxes (booted ahead, not yet an env): the
// subtree of a `runsc run` of a container spare-… with no "env" file in its bundle
// under dataDir.
func envProcs(root int, dataDir string) int {
	t := procTable()
	n := 0
	for pid, p := range t {
		if p.ppid != root || spareProcess(pid, dataDir) {
			continue
		}
		kids := descendants(t, pid)
		if len(kids) == 0 && readySetup(pid) {
			continue
		}
		if !hearthItself(t, root, pid) {
			n++
		}
		for _, d := range kids {
			if !hearthItself(t, root, d) {
				n++
			}
		}
	}
	return n
}

// hearthItself reports whether pid runs root's own binary: the namespace driver's
// pre-started setup processes, and the drivers' watchdogs (started through
// /proc/self/exe, so their command name is "exe"), which live as long as the
// server does and are not envs.
func hearthItself(t map[int]procInfo, root, pid int) bool {
	if t[pid].comm == t[root].comm {
		return true
	}
	exe, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "exe"))
	if err != nil {
		return false
	}
	rootExe, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(root), "exe"))
	return err == nil && exe == rootExe
}

// readySetup reports whether pid is one of the namespace driver's setup processes
// started ahead (namespace.SetupArg on its command line): it is not an env until
// it is given one, and then it starts the runtime as its child.
func readySetup(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	return err == nil && bytes.Contains(b, []byte("\x00__hearth-sandbox-setup\x00"))
}

func spareProcess(pid int, dataDir string) bool {
	// runsc's processes (run, gofer, sandbox) all name the bundle or the container
	// on their command line; not all of them are in the sandbox's cgroup.
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	if err != nil {
		return false
	}
	i := bytes.Index(b, []byte("spare-"))
	if i < 0 {
		return false
	}
	rid := b[i:]
	if j := bytes.IndexAny(rid, "/\x00"); j >= 0 {
		rid = rid[:j]
	}
	_, err = os.Stat(filepath.Join(dataDir, "sandbox", "gvisor", "bundles", string(rid), "env"))
	return err != nil
}

// cpuSample is the CPU time used so far by this process (the bench's client), a
// server process, and the server's live descendants: hearth-init apart from the rest
// (runtimes, and gVisor's sentry and gofer, which hold the runtime inside them);
// reaped is what the server's children that already exited used.
type cpuSample struct{ client, server, init, runtime, reaped time.Duration }

func sampleCPU(server int) cpuSample {
	var s cpuSample
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		s.client = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	if server <= 0 {
		return s
	}
	t := procTable()
	s.server = t[server].cpu
	s.reaped = t[server].reaped
	for _, pid := range descendants(t, server) {
		switch {
		case t[pid].comm == "hearth-init":
			s.init += t[pid].cpu
		case hearthItself(t, server, pid):
			s.server += t[pid].cpu // a watchdog, or a namespace setup not yet exec'd
		default:
			s.runtime += t[pid].cpu
		}
	}
	return s
}

func (s cpuSample) sub(o cpuSample) cpuSample {
	return cpuSample{s.client - o.client, s.server - o.server, s.init - o.init, s.runtime - o.runtime, s.reaped - o.reaped}
}

// waitSettled waits until hearth serve (pid) has had no env processes for 50 ms
// and then until its processes and their descendants (spare sandboxes still
// booting) have used no CPU for 100 ms, so that a cold-start sample does not share
// two cores with the previous env's teardown or the next spare's boot.
func waitSettled(pid int, dataDir string, timeout, quietMax time.Duration) bool {
	deadline := time.Now().Add(timeout)
	quietSince := time.Time{}
	for time.Now().Before(deadline) {
		if envProcs(pid, dataDir) == 0 {
			if quietSince.IsZero() {
				quietSince = time.Now()
			} else if time.Since(quietSince) >= 50*time.Millisecond {
				break
			}
		} else {
			quietSince = time.Time{}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if time.Now().After(deadline) {
		return false
	}
	// CPU times move in 10 ms ticks: two unchanged readings 50 ms apart, for at
	// most quietMax (a server never quiet is measured as it is).
	quietBy := time.Now().Add(quietMax)
	last, still := sampleCPU(pid), 0
	for time.Now().Before(quietBy) && still < 2 {
		time.Sleep(50 * time.Millisecond)
		cur := sampleCPU(pid)
		if cur.server+cur.init+cur.runtime == last.server+last.init+last.runtime {
			still++
		} else {
			still = 0
		}
		last = cur
	}
	return true
}

// waitSpares waits until the number of spare gVisor sandboxes (booted ahead, not
// taken) has not changed for stable, for at most timeout. The driver boots them one
// at a time with pauses between (it waits for idle CPU), which waitSettled's 100 ms
// of quiet does not outlast.
func waitSpares(dataDir string, stable, timeout time.Duration) {
	count := func() int {
		entries, _ := os.ReadDir(filepath.Join(dataDir, "sandbox", "gvisor", "bundles"))
		n := 0
		for _, e := range entries {
			if !strings.HasPrefix(e.Name(), "spare-") {
				continue
			}
			if _, err := os.Stat(filepath.Join(dataDir, "sandbox", "gvisor", "bundles", e.Name(), "env")); err != nil {
				n++
			}
		}
		return n
	}
	deadline := time.Now().Add(timeout)
	last, since := count(), time.Now()
	for time.Now().Before(deadline) && time.Since(since) < stable {
		time.Sleep(50 * time.Millisecond)
		if n := count(); n != last {
			last, since = n, time.Now()
		}
	}
}
