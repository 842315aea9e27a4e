//go:build linux && (amd64 || arm64)

package namespace

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
)

// runBPF interprets the subset of classic BPF the filter uses against one
// struct seccomp_data.
func runBPF(t *testing.T, prog []unix.SockFilter, nr, arch uint32, arg0 uint64) uint32 {
	t.Helper()
	data := make([]byte, 64)
	binary.LittleEndian.PutUint32(data[0:], nr)
	binary.LittleEndian.PutUint32(data[4:], arch)
	binary.LittleEndian.PutUint64(data[16:], arg0)
	var a uint32
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		switch in.Code {
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
			a = binary.LittleEndian.Uint32(data[in.K:])
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K:
			if a == in.K {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		case unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K:
			if a >= in.K {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		case unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K:
			if a&in.K != 0 {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		case unix.BPF_RET | unix.BPF_K:
			return in.K
		default:
			t.Fatalf("unexpected instruction %#x at %d", in.Code, pc)
		}
	}
	t.Fatal("filter fell off the end")
	return 0
}

func TestSeccompFilter(t *testing.T) {
	prog, err := seccompFilter()
	if err != nil {
		t.Fatal(err)
	}
	if len(prog) > 255 {
		t.Fatalf("filter has %d instructions", len(prog))
	}
	eperm := uint32(unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM))
	enosys := uint32(unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS))
	arch := uint32(seccompAuditArch)
	for _, nr := range seccompDenied() {
		if got := runBPF(t, prog, nr, arch, 0); got != eperm {
			t.Errorf("syscall %d: %#x, want EPERM", nr, got)
		}
	}
	for _, nr := range []uint32{unix.SYS_READ, unix.SYS_WRITE, unix.SYS_EXECVE, unix.SYS_MMAP, unix.SYS_FUTEX, unix.SYS_GETPID, unix.SYS_SOCKET, unix.SYS_CONNECT} {
		if got := runBPF(t, prog, nr, arch, 0); got != unix.SECCOMP_RET_ALLOW {
			t.Errorf("syscall %d: %#x, want allow", nr, got)
		}
	}
	// clone: threads and fork yes, new namespaces no.
	for _, flags := range []uint64{
		unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND | unix.CLONE_THREAD | unix.CLONE_SYSVSEM,
		uint64(unix.SIGCHLD), unix.CLONE_VFORK | unix.CLONE_VM | uint64(unix.SIGCHLD),
	} {
		if got := runBPF(t, prog, unix.SYS_CLONE, arch, flags); got != unix.SECCOMP_RET_ALLOW {
			t.Errorf("clone(%#x): %#x, want allow", flags, got)
		}
	}
	for _, flag := range []uint64{unix.CLONE_NEWUSER, unix.CLONE_NEWNS, unix.CLONE_NEWPID, unix.CLONE_NEWNET, unix.CLONE_NEWIPC, unix.CLONE_NEWUTS, unix.CLONE_NEWCGROUP} {
		if got := runBPF(t, prog, unix.SYS_CLONE, arch, flag|uint64(unix.SIGCHLD)); got != eperm {
			t.Errorf("clone(%#x): %#x, want EPERM", flag, got)
		}
	}
	if got := runBPF(t, prog, unix.SYS_CLONE3, arch, 0); got != enosys {
		t.Errorf("clone3: %#x, want ENOSYS", got)
	}
	// Foreign architectures (i386 entry on x86_64, arm on arm64) are killed.
	if got := runBPF(t, prog, unix.SYS_READ, unix.AUDIT_ARCH_I386, 0); got != unix.SECCOMP_RET_KILL_PROCESS {
		t.Errorf("foreign arch: %#x, want kill", got)
	}
	if seccompRejectX32 {
		if got := runBPF(t, prog, 0x40000000|unix.SYS_MOUNT, arch, 0); got != enosys {
			t.Errorf("x32 mount: %#x, want ENOSYS", got)
		}
	}
}
