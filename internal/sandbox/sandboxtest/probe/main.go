//go:build linux

// Command probe is the conformance suite's PID 1: it reads one command per line on
// stdin and answers each with one line on stdout, "ok <result>" or "err <reason>".
// It is built static (CGO_ENABLED=0) and uses only the standard library, so it runs
// in any sandbox whatever its root filesystem holds.
//
//	echo TEXT            ok TEXT
//	whoami               ok uid=U gid=G euid=U egid=G groups=[...]
//	caps                 ok CapInh=… CapPrm=… CapEff=… CapBnd=… CapAmb=… NoNewPrivs=N Seccomp=N
//	ps                   ok [{"pid":1,"cmd":"…"},…]
//	read PATH            ok "<first 256 bytes, quoted>"
//	write PATH           creates PATH with a short text
//	listdir PATH         ok ["name",…]
//	fill PATH MB         writes MB MiB to PATH
//	connect HOST:PORT    TCP connect (1 s timeout)
//	listen ADDR          listen on ADDR, connect to it, pass a byte
//	ifaces               ok ["lo",…]
//	alloc MB             allocate and touch MB MiB (kept until exit)
//	spin MS N            N goroutines busy for MS milliseconds; ok cpu=NS (CPU used meanwhile)
//	ticks                counter incremented every millisecond by a goroutine (started on first use)
//	forkbomb             start processes until fork fails; report how many, then kill them
//	nofile               ok soft=S hard=H opened=N (opens /dev/null until it fails)
//	mount                try mount(2) of a tmpfs
//	denied               try syscalls a sandbox must refuse; ok name=errno …
//	hostname             ok NAME
//	env                  ok ["K=V",…]
//	sleep MS             sleep, then ok
//	sh SCRIPT            run /bin/sh -c SCRIPT (5 s timeout), ok "<output, quoted>"
//	exit CODE            exit with CODE
//	asuser UID GID CMD   run CMD in a child process of uid/gid (no groups), as the
//	                     function's runtime is run; answer what it answers
//	open PATH MODE       open PATH for r, w or rw, then close it
//	readlink PATH        ok "<target>"
//	kill PID SIG         kill(2) with SIG (a number)
//	ptrace PID           PTRACE_ATTACH (and detach at once if it worked)
//	killchild UID GID    start a sleep as uid/gid, SIGKILL it; ok <how it ended>
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

var (
	hog      [][]byte // alloc keeps memory here
	ticks    atomic.Int64
	tickOnce sync.Once
)

// onceArg as os.Args[1] makes the probe answer the command in os.Args[2] and exit
// (asuser).
const onceArg = "-once"

func main() {
	if len(os.Args) == 3 && os.Args[1] == onceArg {
		cmd, arg, _ := strings.Cut(os.Args[2], " ")
		res, err := run(cmd, arg)
		if err != nil {
			fmt.Printf("err %s\n", oneLine(describe(err)))
		} else {
			fmt.Printf("ok %s\n", oneLine(res))
		}
		return
	}
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 64<<10), 1<<20)
	out := bufio.NewWriter(os.Stdout)
	for in.Scan() {
		cmd, arg, _ := strings.Cut(in.Text(), " ")
		res, err := run(cmd, arg)
		if err != nil {
			fmt.Fprintf(out, "err %s\n", oneLine(describe(err)))
		} else {
			fmt.Fprintf(out, "ok %s\n", oneLine(res))
		}
		out.Flush()
	}
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", `\n`) }

// describe puts the errno name first so the suite can match it.
func describe(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return fmt.Sprintf("%s %v", errnoName(errno), err)
	}
	return err.Error()
}

func errnoName(e syscall.Errno) string {
	switch e {
	case syscall.EPERM:
		return "EPERM"
	case syscall.EACCES:
		return "EACCES"
	case syscall.EROFS:
		return "EROFS"
	case syscall.ENOENT:
		return "ENOENT"
	case syscall.ENOSPC:
		return "ENOSPC"
	case syscall.EMFILE:
		return "EMFILE"
	case syscall.EAGAIN:
		return "EAGAIN"
	case syscall.ENOSYS:
		return "ENOSYS"
	case syscall.ECONNREFUSED:
		return "ECONNREFUSED"
	case syscall.ENETUNREACH:
		return "ENETUNREACH"
	case syscall.EINVAL:
		return "EINVAL"
	case syscall.ESRCH:
		return "ESRCH"
	}
	return "E" + strconv.Itoa(int(e))
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func run(cmd, arg string) (string, error) {
	switch cmd {
	case "echo":
		return arg, nil
	case "whoami":
		groups, _ := syscall.Getgroups()
		return fmt.Sprintf("uid=%d gid=%d euid=%d egid=%d groups=%v",
			os.Getuid(), os.Getgid(), os.Geteuid(), os.Getegid(), groups), nil
	case "caps":
		return caps()
	case "ps":
		return ps()
	case "read":
		f, err := os.Open(arg)
		if err != nil {
			return "", err
		}
		defer f.Close()
		b := make([]byte, 256)
		n, err := io.ReadFull(f, b)
		if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
			return "", err
		}
		return strconv.Quote(string(b[:n])), nil
	case "write":
		return "", os.WriteFile(arg, []byte("written by the probe\n"), 0o644)
	case "listdir":
		ents, err := os.ReadDir(arg)
		if err != nil {
			return "", err
		}
		names := []string{}
		for _, e := range ents {
			names = append(names, e.Name())
		}
		return jsonString(names), nil
	case "fill":
		path, mb, _ := strings.Cut(arg, " ")
		n, _ := strconv.Atoi(mb)
		return fill(path, n)
	case "connect":
		c, err := net.DialTimeout("tcp", arg, time.Second)
		if err != nil {
			return "", err
		}
		c.Close()
		return "connected", nil
	case "listen":
		return listen(arg)
	case "ifaces":
		ifs, err := net.Interfaces()
		if err != nil {
			return "", err
		}
		names := []string{}
		for _, i := range ifs {
			names = append(names, i.Name)
		}
		return jsonString(names), nil
	case "alloc":
		mb, _ := strconv.Atoi(arg)
		b := make([]byte, mb<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		hog = append(hog, b)
		return fmt.Sprintf("allocated %d MiB", mb), nil
	case "spin":
		ms, n, _ := strings.Cut(arg, " ")
		return spin(ms, n)
	case "ticks":
		tickOnce.Do(func() {
			go func() {
				for {
					time.Sleep(time.Millisecond)
					ticks.Add(1)
				}
			}()
		})
		return strconv.FormatInt(ticks.Load(), 10), nil
	case "forkbomb":
		return forkbomb()
	case "nofile":
		return nofile()
	case "mount":
		if err := syscall.Mount("tmpfs", "/tmp", "tmpfs", 0, ""); err != nil {
			return "", err
		}
		return "mounted", nil
	case "denied":
		return denied(), nil
	case "hostname":
		return os.Hostname()
	case "env":
		return jsonString(os.Environ()), nil
	case "sleep":
		ms, _ := strconv.Atoi(arg)
		time.Sleep(time.Duration(ms) * time.Millisecond)
		return "slept", nil
	case "sh":
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c := exec.CommandContext(ctx, "/bin/sh", "-c", arg)
		c.WaitDelay = time.Second // background children may hold the output open
		out, err := c.CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("%v: %q", err, out)
		}
		return strconv.Quote(string(out)), nil
	case "exit":
		code, _ := strconv.Atoi(arg)
		os.Exit(code)
	case "asuser":
		return asUser(arg)
	case "killchild":
		var uid, gid uint32
		if _, err := fmt.Sscan(arg, &uid, &gid); err != nil {
			return "", err
		}
		c := exec.Command("/bin/sleep", "30")
		c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: []uint32{}}}
		if err := c.Start(); err != nil {
			return "", err
		}
		if err := syscall.Kill(c.Process.Pid, syscall.SIGKILL); err != nil {
			c.Process.Kill()
			c.Wait()
			return "", err
		}
		if err := c.Wait(); err != nil {
			return err.Error(), nil
		}
		return "exited", nil
	case "open":
		path, mode, _ := strings.Cut(arg, " ")
		flag := map[string]int{"r": os.O_RDONLY, "w": os.O_WRONLY, "rw": os.O_RDWR}[mode]
		f, err := os.OpenFile(path, flag, 0)
		if err != nil {
			return "", err
		}
		f.Close()
		return "opened", nil
	case "readlink":
		t, err := os.Readlink(arg)
		if err != nil {
			return "", err
		}
		return strconv.Quote(t), nil
	case "kill":
		pid, sig, _ := strings.Cut(arg, " ")
		p, _ := strconv.Atoi(pid)
		n, _ := strconv.Atoi(sig)
		if err := syscall.Kill(p, syscall.Signal(n)); err != nil {
			return "", err
		}
		return "sent", nil
	case "ptrace":
		pid, _ := strconv.Atoi(arg)
		if _, _, e := syscall.Syscall6(syscall.SYS_PTRACE, syscall.PTRACE_ATTACH, uintptr(pid), 0, 0, 0, 0); e != 0 {
			return "", e
		}
		syscall.Syscall6(syscall.SYS_PTRACE, syscall.PTRACE_DETACH, uintptr(pid), 0, 0, 0, 0)
		return "attached", nil
	}
	return "", fmt.Errorf("unknown command %q", cmd)
}

func caps() (string, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "", err
	}
	var parts []string
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch k {
		case "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp":
			parts = append(parts, k+"="+strings.TrimSpace(v))
		}
	}
	return strings.Join(parts, " "), nil
}

func ps() (string, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return "", err
	}
	type proc struct {
		Pid int    `json:"pid"`
		Cmd string `json:"cmd"`
	}
	procs := []proc{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		procs = append(procs, proc{pid, strings.TrimRight(strings.ReplaceAll(string(b), "\x00", " "), " ")})
	}
	return jsonString(procs), nil
}

func fill(path string, mb int) (string, error) {
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	chunk := make([]byte, 1<<20)
	written := 0
	for i := 0; i < mb; i++ {
		n, err := f.Write(chunk)
		written += n
		if err != nil {
			return "", fmt.Errorf("after %d bytes: %w", written, err)
		}
	}
	return strconv.Itoa(written), nil
}

func listen(addr string) (string, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	defer l.Close()
	got := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			got <- err
			return
		}
		defer c.Close()
		b := make([]byte, 1)
		_, err = io.ReadFull(c, b)
		got <- err
	}()
	c, err := net.DialTimeout("tcp", l.Addr().String(), time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if _, err := c.Write([]byte{'x'}); err != nil {
		return "", err
	}
	select {
	case err := <-got:
		if err != nil {
			return "", err
		}
	case <-time.After(2 * time.Second):
		return "", errors.New("accept timed out")
	}
	return "listened on " + l.Addr().String(), nil
}

func spin(msArg, nArg string) (string, error) {
	ms, _ := strconv.Atoi(msArg)
	n, _ := strconv.Atoi(nArg)
	if n < 1 {
		n = 1
	}
	cpu0 := cpuTime()
	end := time.Now().Add(time.Duration(ms) * time.Millisecond)
	var wg sync.WaitGroup
	var sink atomic.Int64
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x := 0
			for time.Now().Before(end) {
				for j := 0; j < 1000; j++ {
					x += j
				}
			}
			sink.Add(int64(x))
		}()
	}
	wg.Wait()
	return fmt.Sprintf("cpu=%d", (cpuTime() - cpu0).Nanoseconds()), nil
}

// cpuTime is the CPU this process has used (every thread, user and system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// forkbomb lets a shell start sleeping children until fork fails, counting them.
// The shell, not this process, runs into the limit: a Go runtime that cannot start
// a thread dies, and this one is PID 1.
func forkbomb() (string, error) {
	cmd := exec.Command("/bin/sh", "-c", `while :; do /bin/sleep 600 </dev/null >/dev/null 2>&1 & echo +; done`)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return "", err
	}
	n := 0
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		n++
		if n >= 100000 {
			break
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	killOthers()
	return fmt.Sprintf("started=%d stderr=%q", n, firstLine(stderr.String())), nil
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// killOthers kills every other process of the sandbox and reaps them: as PID 1 this
// process inherits the orphans.
func killOthers() {
	self := os.Getpid()
	for i := 0; i < 50; i++ {
		ents, _ := os.ReadDir("/proc")
		others := 0
		for _, e := range ents {
			pid, err := strconv.Atoi(e.Name())
			if err != nil || pid == self {
				continue
			}
			others++
			syscall.Kill(pid, syscall.SIGKILL)
		}
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if err != nil || pid <= 0 {
				break
			}
		}
		if others == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func nofile() (string, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return "", err
	}
	var files []*os.File
	var openErr error
	for len(files) < 1<<20 {
		f, err := os.Open("/dev/null")
		if err != nil {
			openErr = err
			break
		}
		files = append(files, f)
	}
	for _, f := range files {
		f.Close()
	}
	return fmt.Sprintf("soft=%d hard=%d opened=%d error=%q", lim.Cur, lim.Max, len(files), describe(openErr)), nil
}

// denied tries syscalls that an unprivileged process could use outside a sandbox
// but must not inside one.
func denied() string {
	var parts []string
	try := func(name string, trap uintptr, a ...uintptr) {
		args := make([]uintptr, 6)
		copy(args, a)
		_, _, e := syscall.Syscall6(trap, args[0], args[1], args[2], args[3], args[4], args[5])
		if e == 0 {
			parts = append(parts, name+"=ok")
			return
		}
		parts = append(parts, name+"="+errnoName(e))
	}
	try("mount", syscall.SYS_MOUNT, ptr("none"), ptr("/tmp"), ptr("tmpfs"), 0, 0)
	try("umount2", syscall.SYS_UMOUNT2, ptr("/tmp"), 0)
	try("unshare_user", syscall.SYS_UNSHARE, syscall.CLONE_NEWUSER)
	try("unshare_net", syscall.SYS_UNSHARE, syscall.CLONE_NEWNET)
	// keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0) normally succeeds.
	try("keyctl", sysKeyctl, 0, ^uintptr(2), 0)
	// io_uring_setup(1, &params) normally succeeds.
	var params [120]byte
	try("io_uring_setup", sysIoUringSetup, 1, uintptr(unsafe.Pointer(&params[0])))
	try("bpf", sysBPF, 0, 0, 0)
	try("perf_event_open", sysPerfEventOpen, 0, 0, ^uintptr(0), ^uintptr(0), 0)
	try("userfaultfd", sysUserfaultfd, 0)
	return strings.Join(parts, " ")
}

func ptr(s string) uintptr {
	b := append([]byte(s), 0)
	return uintptr(unsafe.Pointer(&b[0]))
}

// asUser runs one command in a child of this program started as uid/gid, the way
// hearth-init starts a function's runtime, and answers with the child's answer.
func asUser(arg string) (string, error) {
	f := strings.SplitN(arg, " ", 3)
	if len(f) < 3 {
		return "", errors.New("asuser UID GID CMD")
	}
	uid, err1 := strconv.Atoi(f[0])
	gid, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil {
		return "", errors.New("asuser: bad uid or gid")
	}
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c := exec.CommandContext(ctx, self, onceArg, f[2])
	c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}}
	c.Stderr = io.Discard
	out, err := c.Output()
	if err != nil && len(out) == 0 {
		return "", fmt.Errorf("start as %d:%d: %w", uid, gid, err)
	}
	line := strings.TrimRight(string(out), "\n")
	if res, ok := strings.CutPrefix(line, "ok "); ok {
		return res, nil
	}
	if res, ok := strings.CutPrefix(line, "err "); ok {
		return "", errors.New(res)
	}
	return "", fmt.Errorf("asuser: unexpected answer %q", line)
}
