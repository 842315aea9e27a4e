//go:build linux

package namespace

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The seccomp filter is a deny list on top of what the dropped capabilities already
// forbid: it closes the kernel interfaces an unprivileged process could still reach
// (namespaces, io_uring, bpf, perf, ptrace-style access, keyrings, new mount API),
// so a kernel bug there is not one syscall away. Everything else is allowed.

// seccompDeny are denied with EPERM on every architecture.
var seccompDeny = []uint32{
	unix.SYS_MOUNT, unix.SYS_UMOUNT2, unix.SYS_PIVOT_ROOT,
	unix.SYS_MOVE_MOUNT, unix.SYS_FSOPEN, unix.SYS_FSMOUNT, unix.SYS_FSCONFIG, unix.SYS_FSPICK,
	unix.SYS_OPEN_TREE, unix.SYS_OPEN_TREE_ATTR, unix.SYS_MOUNT_SETATTR,
	unix.SYS_SWAPON, unix.SYS_SWAPOFF, unix.SYS_REBOOT,
	unix.SYS_KEXEC_LOAD, unix.SYS_KEXEC_FILE_LOAD,
	unix.SYS_INIT_MODULE, unix.SYS_FINIT_MODULE, unix.SYS_DELETE_MODULE,
	unix.SYS_BPF, unix.SYS_PERF_EVENT_OPEN, unix.SYS_USERFAULTFD,
	unix.SYS_PTRACE, unix.SYS_PROCESS_VM_READV, unix.SYS_PROCESS_VM_WRITEV, unix.SYS_PIDFD_GETFD, unix.SYS_KCMP,
	unix.SYS_KEYCTL, unix.SYS_ADD_KEY, unix.SYS_REQUEST_KEY,
	unix.SYS_UNSHARE, unix.SYS_SETNS,
	unix.SYS_OPEN_BY_HANDLE_AT, unix.SYS_NAME_TO_HANDLE_AT,
	unix.SYS_ACCT, unix.SYS_QUOTACTL, unix.SYS_QUOTACTL_FD, unix.SYS_NFSSERVCTL,
	unix.SYS_SETTIMEOFDAY, unix.SYS_CLOCK_SETTIME, unix.SYS_CLOCK_ADJTIME, unix.SYS_ADJTIMEX,
	unix.SYS_SYSLOG, unix.SYS_LOOKUP_DCOOKIE, unix.SYS_FANOTIFY_INIT,
	unix.SYS_IO_URING_SETUP, unix.SYS_IO_URING_ENTER, unix.SYS_IO_URING_REGISTER,
}

// cloneNamespaceFlags are the clone(2) flags that create namespaces. (CLONE_NEWTIME
// shares its bit with the exit signal in clone(2) and exists only for clone3/unshare,
// both denied.)
const cloneNamespaceFlags = unix.CLONE_NEWNS | unix.CLONE_NEWCGROUP | unix.CLONE_NEWUTS |
	unix.CLONE_NEWIPC | unix.CLONE_NEWUSER | unix.CLONE_NEWPID | unix.CLONE_NEWNET

// Offsets into struct seccomp_data.
const (
	seccompNR    = 0
	seccompArch  = 4
	seccompArg0  = 16 // low 32 bits on little-endian architectures
	retErrno     = unix.SECCOMP_RET_ERRNO
	retAllow     = unix.SECCOMP_RET_ALLOW
	retKillProc  = unix.SECCOMP_RET_KILL_PROCESS
	x32SyscallNR = 0x40000000
)

// bpfProgram assembles a classic BPF program with symbolic jump targets.
type bpfProgram struct {
	insns  []unix.SockFilter
	labels map[string]int
	fixups []bpfFixup
}

type bpfFixup struct {
	at     int
	jt, jf string
}

func (p *bpfProgram) label(name string) {
	if p.labels == nil {
		p.labels = map[string]int{}
	}
	p.labels[name] = len(p.insns)
}

func (p *bpfProgram) loadAbs(off uint32) {
	p.insns = append(p.insns, unix.SockFilter{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: off})
}

// jump appends a conditional jump; "" as a target means the next instruction.
func (p *bpfProgram) jump(op uint16, k uint32, jt, jf string) {
	p.fixups = append(p.fixups, bpfFixup{at: len(p.insns), jt: jt, jf: jf})
	p.insns = append(p.insns, unix.SockFilter{Code: unix.BPF_JMP | op | unix.BPF_K, K: k})
}

func (p *bpfProgram) ret(k uint32) {
	p.insns = append(p.insns, unix.SockFilter{Code: unix.BPF_RET | unix.BPF_K, K: k})
}

func (p *bpfProgram) assemble() ([]unix.SockFilter, error) {
	off := func(from int, label string) (uint8, error) {
		if label == "" {
			return 0, nil
		}
		to, ok := p.labels[label]
		if !ok {
			return 0, fmt.Errorf("seccomp: undefined label %q", label)
		}
		d := to - from - 1
		if d < 0 || d > 255 {
			return 0, fmt.Errorf("seccomp: jump to %q out of range (%d)", label, d)
		}
		return uint8(d), nil
	}
	for _, f := range p.fixups {
		jt, err := off(f.at, f.jt)
		if err != nil {
			return nil, err
		}
		jf, err := off(f.at, f.jf)
		if err != nil {
			return nil, err
		}
		p.insns[f.at].Jt, p.insns[f.at].Jf = jt, jf
	}
	return p.insns, nil
}

// seccompFilter builds the filter for this architecture:
//
//	arch != native                → kill the process (no 32-bit or x32 entry points)
//	clone with a namespace flag   → EPERM
//	clone3                        → ENOSYS (its flags live in memory BPF cannot read;
//	                                libc and Go fall back to clone)
//	a syscall in seccompDeny      → EPERM
//	anything else                 → allow
func seccompFilter() ([]unix.SockFilter, error) {
	if seccompAuditArch == 0 {
		return nil, fmt.Errorf("seccomp: no filter for this architecture")
	}
	var p bpfProgram
	p.loadAbs(seccompArch)
	p.jump(unix.BPF_JEQ, seccompAuditArch, "native", "")
	p.ret(retKillProc)
	p.label("native")
	p.loadAbs(seccompNR)
	if seccompRejectX32 {
		p.jump(unix.BPF_JGE, x32SyscallNR, "enosys", "")
	}
	p.jump(unix.BPF_JEQ, unix.SYS_CLONE, "", "notclone")
	p.loadAbs(seccompArg0)
	p.jump(unix.BPF_JSET, cloneNamespaceFlags, "eperm", "allow")
	p.label("notclone")
	p.jump(unix.BPF_JEQ, unix.SYS_CLONE3, "enosys", "")
	deny := append(append([]uint32(nil), seccompDeny...), seccompDenyArch...)
	for _, nr := range deny {
		p.jump(unix.BPF_JEQ, nr, "eperm", "")
	}
	p.label("allow")
	p.ret(retAllow)
	p.label("eperm")
	p.ret(retErrno | uint32(unix.EPERM))
	p.label("enosys")
	p.ret(retErrno | uint32(unix.ENOSYS))
	return p.assemble()
}

// installSeccomp loads the filter for the calling thread (which then execs). It needs
// no_new_privs (or CAP_SYS_ADMIN).
func installSeccomp() error {
	insns, err := seccompFilter()
	if err != nil {
		return err
	}
	prog := unix.SockFprog{Len: uint16(len(insns)), Filter: &insns[0]}
	_, _, errno := unix.RawSyscall(unix.SYS_PRCTL, unix.PR_SET_SECCOMP, unix.SECCOMP_MODE_FILTER, uintptr(unsafe.Pointer(&prog)))
	if errno != 0 {
		return fmt.Errorf("seccomp: %w", errno)
	}
	return nil
}

// seccompDenied lists the syscall numbers the filter denies with EPERM on this
// architecture (clone is denied only with namespace flags; clone3 gets ENOSYS).
func seccompDenied() []uint32 {
	return append(append([]uint32(nil), seccompDeny...), seccompDenyArch...)
}
