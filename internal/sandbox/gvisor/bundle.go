package gvisor

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hearthfn/hearth/internal/sandbox"
)

// The subset of the OCI runtime spec Hearth generates. Writing it out here keeps
// the dependency set small and the bundle readable.
type ociSpec struct {
	Version  string     `json:"ociVersion"`
	Process  ociProcess `json:"process"`
	Root     ociRoot    `json:"root"`
	Hostname string     `json:"hostname"`
	Mounts   []ociMount `json:"mounts"`
	Linux    ociLinux   `json:"linux"`
}

type ociProcess struct {
	Terminal        bool            `json:"terminal"`
	User            ociUser         `json:"user"`
	Args            []string        `json:"args"`
	Env             []string        `json:"env"`
	Cwd             string          `json:"cwd"`
	Capabilities    ociCapabilities `json:"capabilities"`
	Rlimits         []ociRlimit     `json:"rlimits"`
	NoNewPrivileges bool            `json:"noNewPrivileges"`
}

type ociUser struct {
	UID uint32 `json:"uid"`
	GID uint32 `json:"gid"`
}

type ociCapabilities struct {
	Bounding    []string `json:"bounding"`
	Effective   []string `json:"effective"`
	Inheritable []string `json:"inheritable"`
	Permitted   []string `json:"permitted"`
	Ambient     []string `json:"ambient"`
}

type ociRlimit struct {
	Type string `json:"type"`
	Hard uint64 `json:"hard"`
	Soft uint64 `json:"soft"`
}

type ociRoot struct {
	Path     string `json:"path"`
	Readonly bool   `json:"readonly"`
}

type ociMount struct {
	Destination string   `json:"destination"`
	Type        string   `json:"type"`
	Source      string   `json:"source"`
	Options     []string `json:"options,omitempty"`
}

type ociLinux struct {
	Namespaces  []ociNamespace `json:"namespaces"`
	Resources   ociResources   `json:"resources"`
	CgroupsPath string         `json:"cgroupsPath,omitempty"`
}

type ociNamespace struct {
	Type string `json:"type"`
	Path string `json:"path,omitempty"` // join this namespace instead of a new one
}

type ociResources struct {
	Memory *ociMemory `json:"memory,omitempty"`
	CPU    *ociCPU    `json:"cpu,omitempty"`
	Pids   *ociPids   `json:"pids,omitempty"`
}

type ociMemory struct {
	Limit int64 `json:"limit"`
	Swap  int64 `json:"swap"`
}

type ociCPU struct {
	Quota  int64  `json:"quota"`
	Period uint64 `json:"period"`
}

type ociPids struct {
	Limit int64 `json:"limit"`
}

var cpuPeriod = uint64(sandbox.CPUPeriod / time.Microsecond)

// bundleNet is a networked sandbox's part of its bundle (zero: loopback only).
type bundleNet struct {
	nsPath     string // the network namespace runsc runs the Sentry in
	resolvConf string // the host file for /etc/resolv.conf; "": none
}

// writeBundle creates bundle/rootfs (an empty read-only root with a mount point
// for every mount) and bundle/config.json.
func writeBundle(bundle string, spec sandbox.Spec, cgroupParent string, network bundleNet) error {
	rootfs := filepath.Join(bundle, "rootfs")
	if err := os.MkdirAll(rootfs, 0o755); err != nil {
		return fmt.Errorf("gvisor: bundle: %w", err)
	}
	var mounts []ociMount
	add := func(m sandbox.Mount) error {
		fi, err := os.Stat(m.Source)
		if err != nil {
			return nil // a HostBase entry this host lacks (e.g. /lib32)
		}
		target := filepath.Join(rootfs, m.Target)
		if fi.IsDir() {
			err = os.MkdirAll(target, 0o755)
		} else {
			if err = os.MkdirAll(filepath.Dir(target), 0o755); err == nil {
				var f *os.File
				if f, err = os.OpenFile(target, os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
					err = f.Close()
				}
			}
		}
		if err != nil {
			return fmt.Errorf("gvisor: mount point %s: %w", m.Target, err)
		}
		opts := []string{"rbind", "nosuid", "nodev"}
		if m.ReadOnly {
			opts = append(opts, "ro")
		}
		mounts = append(mounts, ociMount{Destination: m.Target, Type: "bind", Source: m.Source, Options: opts})
		return nil
	}
	all := append(sandbox.HostBase(), spec.Mounts...)
	if network.resolvConf != "" {
		all = append(all, sandbox.Mount{Source: network.resolvConf, Target: "/etc/resolv.conf", ReadOnly: true})
	}
	for _, m := range all {
		if err := add(m); err != nil {
			return err
		}
	}
	for _, d := range []string{"proc", "tmp", "dev"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			return fmt.Errorf("gvisor: bundle: %w", err)
		}
	}
	tmpMB := spec.TmpMB
	if tmpMB <= 0 {
		tmpMB = 512
	}
	mounts = append(mounts,
		ociMount{Destination: "/proc", Type: "proc", Source: "proc"},
		ociMount{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "mode=1777", fmt.Sprintf("size=%dm", tmpMB)}},
	)
	noFile := uint64(spec.NoFile)
	if noFile == 0 {
		noFile = 1024
	}
	none := []string{}
	// The init runs as the sandbox's root with only what it needs to start the
	// function's runtime as Spec.UID/GID and signal it; the runtime leaves uid 0
	// and with it every capability. The bounding set is empty, so nothing exec'd in
	// the sandbox gains a capability.
	initCaps := []string{"CAP_SETGID", "CAP_SETUID", "CAP_KILL"}
	s := ociSpec{
		Version: "1.0.2",
		Process: ociProcess{
			User:            ociUser{UID: 0, GID: 0},
			Args:            append([]string{spec.Init}, argsTail(spec.Args)...),
			Env:             spec.Env,
			Cwd:             "/",
			Capabilities:    ociCapabilities{Bounding: none, Effective: initCaps, Inheritable: initCaps, Permitted: initCaps, Ambient: none},
			Rlimits:         []ociRlimit{{Type: "RLIMIT_NOFILE", Hard: noFile, Soft: noFile}},
			NoNewPrivileges: true,
		},
		Root:     ociRoot{Path: "rootfs", Readonly: true},
		Hostname: "localhost",
		Mounts:   mounts,
		Linux: ociLinux{
			Namespaces:  []ociNamespace{{Type: "pid"}, {Type: "network", Path: network.nsPath}, {Type: "ipc"}, {Type: "uts"}, {Type: "mount"}},
			CgroupsPath: "/" + cgroupParent + "/" + spec.ID,
		},
	}
	if spec.MemoryMB > 0 {
		limit := int64(spec.MemoryMB) << 20
		s.Linux.Resources.Memory = &ociMemory{Limit: limit, Swap: limit}
	}
	if spec.CPUs > 0 {
		s.Linux.Resources.CPU = &ociCPU{Quota: int64(spec.CPUs * float64(cpuPeriod)), Period: cpuPeriod}
	}
	if spec.Pids > 0 {
		s.Linux.Resources.Pids = &ociPids{Limit: int64(spec.Pids)}
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(bundle, "config.json"), b, 0o600)
}

// argsTail drops argv[0]: the spec's Init is the program, its Args[0] only a name.
func argsTail(args []string) []string {
	if len(args) <= 1 {
		return nil
	}
	return args[1:]
}
