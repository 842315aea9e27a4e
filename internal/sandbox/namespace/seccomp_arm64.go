//go:build linux

package namespace

import "golang.org/x/sys/unix"

const (
	seccompAuditArch = unix.AUDIT_ARCH_AARCH64
	seccompRejectX32 = false
)

var seccompDenyArch []uint32
