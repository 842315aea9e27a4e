//go:build linux && !amd64 && !arm64

package namespace

// No filter is written for this architecture yet; SetupMain refuses to start a
// sandbox without one.
const (
	seccompAuditArch = 0
	seccompRejectX32 = false
)

var seccompDenyArch []uint32
