package netenv

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/hearthfn/hearth/internal/netenv/netenvtest"
)

// testListenPort stands for Hearth's function-facing listener in the tests.
const testListenPort = 7101

func openTest(t *testing.T, host netns.NsHandle, subnet string) *Network {
	t.Helper()
	return openPolicy(t, host, subnet, Policy{Egress: EgressInternet, ListenPort: testListenPort})
}

func openPolicy(t *testing.T, host netns.NsHandle, subnet string, p Policy) *Network {
	t.Helper()
	n, err := Open(Config{Subnet: netip.MustParsePrefix(subnet), Name: t.Name(), HostNS: host, Policy: p})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// TestPlumb: an env gets its address and routes, reaches a server on the
// gateway, and cannot reach another env; Close leaves no link behind.
func TestPlumb(t *testing.T) {
	host := netenvtest.NewNS(t)
	n := openTest(t, host, "10.213.7.0/24")
	e1, e2 := netenvtest.NewNS(t), netenvtest.NewNS(t)
	l1, err := n.Plumb(e1)
	if err != nil {
		t.Fatal(err)
	}
	l2, err := n.Plumb(e2)
	if err != nil {
		t.Fatal(err)
	}
	if l1.Addr == l2.Addr || l1.Gateway != netip.MustParseAddr("10.213.7.1") {
		t.Fatalf("leases %v and %v, gateway %v", l1.Addr, l2.Addr, l1.Gateway)
	}

	// Inside: eth0 holds the address; the default route goes through the gateway.
	in, err := netlink.NewHandleAt(e1)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	eth, err := in.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	addrs, _ := in.AddrList(eth, netlink.FAMILY_V4)
	if len(addrs) != 1 || addrs[0].IP.String() != l1.Addr.String() {
		t.Errorf("eth0's addresses: %v, want %v", addrs, l1.Addr)
	}
	routes, _ := in.RouteList(nil, netlink.FAMILY_V4)
	def := false
	for _, r := range routes {
		if (r.Dst == nil || r.Dst.String() == "0.0.0.0/0") && r.Gw.String() == "10.213.7.1" {
			def = true
		}
	}
	if !def {
		t.Errorf("no default route through the gateway: %v", routes)
	}

	// A server on the gateway answers the env, and sees the env's own address.
	var ln net.Listener
	netenvtest.InNS(t, host, func() { ln, err = net.Listen("tcp", "10.213.7.1:7101") })
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- err.Error()
			return
		}
		got <- c.RemoteAddr().(*net.TCPAddr).IP.String()
		c.Close()
	}()
	var c net.Conn
	netenvtest.InNS(t, e1, func() { c, err = net.DialTimeout("tcp", ln.Addr().String(), 2*time.Second) })
	if err != nil {
		t.Fatalf("the env cannot reach the gateway: %v", err)
	}
	c.Close()
	if from := <-got; from != l1.Addr.String() {
		t.Errorf("the gateway saw %s, want the env's address %v", from, l1.Addr)
	}

	// Another env is not reachable (the host does not forward between envs).
	var peer net.Listener
	netenvtest.InNS(t, e2, func() { peer, err = net.Listen("tcp", net.JoinHostPort(l2.Addr.String(), "7000")) })
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	netenvtest.InNS(t, e1, func() { c, err = net.DialTimeout("tcp", peer.Addr().String(), 500*time.Millisecond) })
	if err == nil {
		c.Close()
		t.Error("one env reached another")
	}

	n.Release(l1)
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	h, _ := netlink.NewHandleAt(host)
	defer h.Close()
	links, _ := h.LinkList()
	for _, l := range links {
		if l.Attrs().Name != "lo" {
			t.Errorf("link %s left after Close", l.Attrs().Name)
		}
	}
}

// TestExhausted: a /29 holds five envs (network, gateway and broadcast excluded);
// the sixth gets ErrExhausted at once, and a released address is leased again.
func TestExhausted(t *testing.T) {
	host := netenvtest.NewNS(t)
	n := openTest(t, host, "10.213.8.0/29")
	var leases []*Lease
	for range 5 {
		l, err := n.Plumb(netenvtest.NewNS(t))
		if err != nil {
			t.Fatal(err)
		}
		leases = append(leases, l)
	}
	if _, err := n.Plumb(netenvtest.NewNS(t)); !errors.Is(err, ErrExhausted) {
		t.Fatalf("a sixth env: %v, want ErrExhausted", err)
	}
	n.Release(leases[2])
	l, err := n.Plumb(netenvtest.NewNS(t))
	if err != nil || l.Addr != leases[2].Addr {
		t.Errorf("after a release: %v %v, want %v", l, err, leases[2].Addr)
	}
}

// TestOverlapRefused: a subnet the host already routes is refused with a message
// naming the route.
func TestOverlapRefused(t *testing.T) {
	host := netenvtest.NewNS(t)
	openTest(t, host, "10.213.9.0/24")
	_, err := Open(Config{Subnet: netip.MustParsePrefix("10.213.9.128/25"), Name: "other", HostNS: host})
	if err == nil {
		t.Fatal("an overlapping subnet was accepted")
	}
	t.Log(err)
	if _, err := Open(Config{Subnet: netip.MustParsePrefix("10.213.9.0/28"), Name: "x", HostNS: host}); err == nil {
		t.Fatal("a subnet inside the host's route was accepted")
	}
	if _, err := Open(Config{Subnet: netip.MustParsePrefix("fd00::/64"), Name: "v6", HostNS: host}); err == nil {
		t.Fatal("an IPv6 subnet was accepted")
	}
}

// TestReopenAfterCrash: a Network that was never closed (its server died) is
// cleaned up by the next Open of the same name: same subnet, no leftover links.
func TestReopenAfterCrash(t *testing.T) {
	host := netenvtest.NewNS(t)
	cfg := Config{Subnet: netip.MustParsePrefix("10.213.10.0/24"), Name: "crashed", HostNS: host}
	first, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := first.Plumb(netenvtest.NewNS(t)); err != nil {
		t.Fatal(err)
	}
	first.host.Close() // dies without Close
	second, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open after a crash: %v", err)
	}
	defer second.Close()
	h, _ := netlink.NewHandleAt(host)
	defer h.Close()
	links, _ := h.LinkList()
	if len(links) != 2 { // lo and the new bridge
		var names []string
		for _, l := range links {
			names = append(names, l.Attrs().Name)
		}
		t.Errorf("links after reopening: %v", names)
	}
}

// BenchmarkPlumb: one env's link, from a fresh namespace to a reachable address,
// with the default limits (a qdisc on each end) and without them.
func BenchmarkPlumb(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("network namespaces need root")
	}
	for _, bc := range []struct {
		name   string
		limits Limits
	}{{"limits", Limits{}}, {"unshaped", Limits{BandwidthMbit: -1}}} {
		b.Run(bc.name, func(b *testing.B) { benchmarkPlumb(b, bc.limits) })
	}
}

func benchmarkPlumb(b *testing.B, limits Limits) {
	runtime.LockOSThread()
	orig, _ := netns.Get()
	host, _ := netns.New()
	netns.Set(orig)
	runtime.UnlockOSThread()
	defer host.Close()
	n, err := Open(Config{Subnet: netip.MustParsePrefix("10.213.0.0/16"), Name: "bench", HostNS: host, Limits: limits})
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close()
	envs := make([]netns.NsHandle, b.N)
	runtime.LockOSThread()
	for i := range envs {
		envs[i], _ = netns.New()
	}
	netns.Set(orig)
	runtime.UnlockOSThread()
	b.ResetTimer()
	for i := range b.N {
		if _, err := n.Plumb(envs[i]); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	for _, e := range envs {
		e.Close()
	}
}
