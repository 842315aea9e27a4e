//go:build linux

package namespace

import "golang.org/x/sys/unix"

const (
	seccompAuditArch = unix.AUDIT_ARCH_X86_64
	// x32 syscalls carry the x86_64 audit arch with bit 30 set in the number.
	seccompRejectX32 = true
)

// seccompDenyArch are x86-only entry points.
var seccompDenyArch = []uint32{
	unix.SYS_IOPL, unix.SYS_IOPERM, unix.SYS__SYSCTL, unix.SYS_USELIB, unix.SYS_CREATE_MODULE,
}
