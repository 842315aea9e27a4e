package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
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
		if len(f) < 13 {
			continue
		}
		ppid, _ := strconv.Atoi(string(f[1]))
		ut, _ := strconv.ParseInt(string(f[11]), 10, 64)
		st, _ := strconv.ParseInt(string(f[12]), 10, 64)
		out[pid] = procInfo{ppid: ppid, comm: string(b[open+1 : close]), cpu: time.Duration(ut+st) * clockTick}
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

// envProcs counts root's descendants whose command is not root's own.
func envProcs(root int) int {
	t := procTable()
	n := 0
	for _, pid := range descendants(t, root) {
		if t[pid].comm != t[root].comm {
			n++
		}
	}
	return n
}

// cpuSample is the CPU time used so far by this process (the bench's client), a
// server process, and the server's live descendants: hearth-init apart from the rest
// (runtimes, and gVisor's sentry and gofer, which hold the runtime inside them).
type cpuSample struct{ client, server, init, runtime time.Duration }

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
	for _, pid := range descendants(t, server) {
		if t[pid].comm == "hearth-init" {
			s.init += t[pid].cpu
		} else {
			s.runtime += t[pid].cpu
		}
	}
	return s
}

func (s cpuSample) sub(o cpuSample) cpuSample {
	return cpuSample{s.client - o.client, s.server - o.server, s.init - o.init, s.runtime - o.runtime}
}

// waitNoEnvs waits until hearth serve (pid) has had no env processes for 50 ms.
func waitNoEnvs(pid int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	quietSince := time.Time{}
	for time.Now().Before(deadline) {
		if envProcs(pid) == 0 {
			if quietSince.IsZero() {
				quietSince = time.Now()
			} else if time.Since(quietSince) >= 50*time.Millisecond {
				return true
			}
		} else {
			quietSince = time.Time{}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}
