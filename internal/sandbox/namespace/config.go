//go:build linux

package namespace

import (
	"encoding/binary"
	"errors"

	"github.com/hearthfn/hearth/internal/sandbox"
)

// childConfig is what the parent tells the setup process.
type childConfig struct {
	Root     string // empty directory to mount the new root on
	Hostname string
	Mounts   []childMount
	TmpMB    int
	NoFile   int
	UID, GID int
	Init     string
	Args     []string
	Env      []string
}

type childMount struct {
	sandbox.Mount
	// Base entries come from sandbox.HostBase: skipped when missing on the host,
	// and recreated as symlinks when the host path is one (merged /usr: /bin → usr/bin).
	Base bool
}

// The config travels in a small binary encoding (varint lengths and numbers): the
// setup process is on the cold-start path, and decoding JSON there costs more
// than everything else it does before mounting.

func (c *childConfig) marshal() []byte {
	b := make([]byte, 0, 1024)
	str := func(s string) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	num := func(n int) { b = binary.AppendVarint(b, int64(n)) }
	strs := func(ss []string) {
		num(len(ss))
		for _, s := range ss {
			str(s)
		}
	}
	str(c.Root)
	str(c.Hostname)
	num(len(c.Mounts))
	for _, m := range c.Mounts {
		str(m.Source)
		str(m.Target)
		flags := 0
		if m.ReadOnly {
			flags |= 1
		}
		if m.Base {
			flags |= 2
		}
		num(flags)
	}
	num(c.TmpMB)
	num(c.NoFile)
	num(c.UID)
	num(c.GID)
	str(c.Init)
	strs(c.Args)
	strs(c.Env)
	return b
}

var errShortConfig = errors.New("truncated sandbox config")

func (c *childConfig) unmarshal(b []byte) (err error) {
	fail := func() {
		if err == nil {
			err = errShortConfig
		}
	}
	num := func() int {
		v, n := binary.Varint(b)
		if n <= 0 {
			fail()
			return 0
		}
		b = b[n:]
		return int(v)
	}
	str := func() string {
		l, n := binary.Uvarint(b)
		if n <= 0 || uint64(len(b)-n) < l {
			fail()
			return ""
		}
		s := string(b[n : n+int(l)])
		b = b[n+int(l):]
		return s
	}
	strs := func() []string {
		k := num()
		if k < 0 || k > len(b) {
			fail()
			return nil
		}
		ss := make([]string, 0, k)
		for i := 0; i < k && err == nil; i++ {
			ss = append(ss, str())
		}
		return ss
	}
	c.Root = str()
	c.Hostname = str()
	k := num()
	if k < 0 || k > len(b) {
		fail()
		return err
	}
	c.Mounts = make([]childMount, 0, k)
	for i := 0; i < k && err == nil; i++ {
		var m childMount
		m.Source = str()
		m.Target = str()
		flags := num()
		m.ReadOnly, m.Base = flags&1 != 0, flags&2 != 0
		c.Mounts = append(c.Mounts, m)
	}
	c.TmpMB = num()
	c.NoFile = num()
	c.UID = num()
	c.GID = num()
	c.Init = str()
	c.Args = strs()
	c.Env = strs()
	if err == nil && len(b) != 0 {
		err = errors.New("trailing bytes after sandbox config")
	}
	return err
}
