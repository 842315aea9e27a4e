//go:build !linux

package namespace

import (
	"context"
	"errors"
	"os"

	"github.com/hearthfn/hearth/internal/sandbox"
)

// SetupArg is os.Args[1] of the driver's setup process (Linux only).
const SetupArg = "__hearth-sandbox-setup"

// Config configures a Driver (Linux only).
type Config struct {
	StateDir     string
	CgroupParent string
	Exe          string
}

// Driver is the namespace driver; it exists only on Linux.
type Driver struct{}

var _ sandbox.Driver = (*Driver)(nil)

var errUnsupported = errors.New("namespace: the namespace driver needs Linux")

// New fails: namespaces and cgroups are Linux features.
func New(cfg Config) (*Driver, error) { return nil, errUnsupported }

// SetupMain exits: it is never started off Linux.
func SetupMain() { os.Exit(1) }

func (d *Driver) Close() error                       { return nil }
func (d *Driver) Name() string                       { return "namespace" }
func (d *Driver) Capabilities() sandbox.Capabilities { return sandbox.Capabilities{Freeze: true} }
func (d *Driver) Start(ctx context.Context, spec sandbox.Spec) (sandbox.Sandbox, error) {
	return nil, errUnsupported
}
