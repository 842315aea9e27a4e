// Package netenvtest is for tests only: helpers for tests that build networks of
// their own out of network namespaces, so that nothing touches the machine's
// network. It makes namespaces (NewNS), runs code inside one (InNS), links two
// with a veth pair (Link) and serves TCP inside one (Listen, Serve). Every
// helper fails the test on an error and undoes what it made when the test ends.
package netenvtest

import (
	"net"
	"os"
	"runtime"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// onThread runs f on an OS thread of its own and waits for it. The thread is
// never unlocked, so it ends with f's goroutine: a namespace f moves it into
// never leaks to other goroutines.
func onThread(f func() error) error {
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // never unlocked: the thread may change namespace, and ends
		err = f()
	}()
	<-done
	return err
}

// NewNS makes a network namespace, closed when the test ends, and returns a
// handle to it; the calling thread stays where it was. It skips the test when
// not root, since namespaces need it.
func NewNS(t testing.TB) netns.NsHandle {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	var ns netns.NsHandle
	if err := onThread(func() (err error) { ns, err = netns.New(); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	return ns
}

// InNS runs f on a thread inside ns and waits for it; sockets f creates stay in
// ns. f runs on a goroutine of its own, so it must not call t.Fatal.
func InNS(t testing.TB, ns netns.NsHandle, f func()) {
	t.Helper()
	err := onThread(func() error {
		if err := netns.Set(ns); err != nil {
			return err
		}
		f()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// End is one end of a veth pair Link makes.
type End struct {
	NS     netns.NsHandle // netns.None() for the namespace the test runs in (first end only)
	Name   string         // the link's name in NS
	Addrs  []string       // addresses with their prefix length, e.g. "192.168.77.1/24"
	Routes []Route        // added once both ends are up
}

// Route sends packets for To (a prefix, e.g. "169.254.0.0/16") through the
// gateway Via (an address on the link's subnet).
type Route struct{ To, Via string }

// Link makes a veth pair between a.NS and b.NS, gives each end its addresses, sets
// it up along with its namespace's loopback, adds each end's routes, and removes
// the pair when the test ends.
func Link(t testing.TB, a, b End) {
	t.Helper()
	ha, err := netlink.NewHandleAt(a.NS)
	if err != nil {
		t.Fatal(err)
	}
	defer ha.Close()
	if err := ha.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: a.Name}, PeerName: b.Name, PeerNamespace: netlink.NsFd(b.NS)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if h, err := netlink.NewHandleAt(a.NS); err == nil {
			if l, err := h.LinkByName(a.Name); err == nil {
				h.LinkDel(l)
			}
			h.Close()
		}
	})
	hb, err := netlink.NewHandleAt(b.NS)
	if err != nil {
		t.Fatal(err)
	}
	defer hb.Close()
	ends := []struct {
		h *netlink.Handle
		End
		link netlink.Link
	}{{h: ha, End: a}, {h: hb, End: b}}
	for i, e := range ends {
		l, err := e.h.LinkByName(e.Name)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range e.Addrs {
			addr, err := netlink.ParseAddr(s)
			if err != nil {
				t.Fatal(err)
			}
			if err := e.h.AddrAdd(l, addr); err != nil {
				t.Fatal(err)
			}
		}
		if err := e.h.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
		if lo, err := e.h.LinkByName("lo"); err == nil {
			e.h.LinkSetUp(lo)
		}
		ends[i].link = l
	}
	for _, e := range ends {
		for _, r := range e.Routes {
			_, to, err := net.ParseCIDR(r.To)
			if err != nil {
				t.Fatal(err)
			}
			if err := e.h.RouteAdd(&netlink.Route{LinkIndex: e.link.Attrs().Index, Dst: to, Gw: net.ParseIP(r.Via)}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// Listen listens on TCP at addr inside ns until the test ends.
func Listen(t testing.TB, ns netns.NsHandle, addr string) net.Listener {
	t.Helper()
	var ln net.Listener
	var err error
	InNS(t, ns, func() { ln, err = net.Listen("tcp", addr) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// Serve serves TCP at addr inside ns until the test ends, closing every
// connection it accepts, and sends the remote address of each on the channel it
// returns (16 wait there at most; past that they are not sent).
func Serve(t testing.TB, ns netns.NsHandle, addr string) <-chan string {
	t.Helper()
	ln := Listen(t, ns, addr)
	seen := make(chan string, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			select {
			case seen <- c.RemoteAddr().(*net.TCPAddr).IP.String():
			default:
			}
			c.Close()
		}
	}()
	return seen
}
