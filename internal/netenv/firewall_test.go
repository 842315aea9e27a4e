package netenv

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/hearthfn/hearth/internal/netenv/netenvtest"
)

func TestParseRule(t *testing.T) {
	for in, want := range map[string]string{
		"10.0.0.0/8":        "10.0.0.0/8",
		"10.1.2.3/8":        "10.0.0.0/8",
		"192.0.2.10":        "192.0.2.10/32",
		"192.0.2.10/32:443": "192.0.2.10/32:443",
		"192.0.2.10:5432":   "192.0.2.10/32:5432",
		"0.0.0.0/0:53":      "0.0.0.0/0:53",
	} {
		r, err := ParseRule(in)
		if err != nil || r.String() != want {
			t.Errorf("ParseRule(%q) = %v, %v; want %s", in, r, err, want)
		}
	}
	for _, bad := range []string{"", "10.0.0.0/33", "10.0.0.0/8:0", "10.0.0.0/8:65536", "host:80", "fd00::/8", "10.0.0.0/8:x", "::1"} {
		if r, err := ParseRule(bad); err == nil {
			t.Errorf("ParseRule(%q) = %v, want an error", bad, r)
		}
	}
}

func FuzzParseRule(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8", "192.0.2.10:443", "::1", "a/b:c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRule(s)
		if err != nil {
			return
		}
		// What parses prints as something that parses to the same rule.
		if r2, err := ParseRule(r.String()); err != nil || r2 != r {
			t.Fatalf("%q → %v → %v, %v", s, r, r2, err)
		}
	})
}

// world is a test host: the Hearth host namespace, an "outside" namespace linked
// to it (192.168.77.1 host side, .2 outside, and 169.254.169.254 outside, routed
// from the host as a metadata server would be), and listeners to dial.
type world struct {
	host, outside netns.NsHandle
}

func newWorld(t *testing.T) *world {
	w := &world{host: netenvtest.NewNS(t), outside: netenvtest.NewNS(t)}
	netenvtest.Link(t,
		netenvtest.End{NS: w.host, Name: "up0", Addrs: []string{"192.168.77.1/24"},
			Routes: []netenvtest.Route{{To: "169.254.0.0/16", Via: "192.168.77.2"}}},
		netenvtest.End{NS: w.outside, Name: "up1", Addrs: []string{"192.168.77.2/24", "169.254.169.254/16"}})
	return w
}

// listen serves TCP at addr inside ns, accepting and closing, until the test ends.
func listen(t *testing.T, ns netns.NsHandle, addr string) {
	t.Helper()
	ln := netenvtest.Listen(t, ns, addr)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte(c.RemoteAddr().(*net.TCPAddr).IP.String()))
			c.Close()
		}
	}()
}

// dial connects from inside ns and returns the address the server saw, or the error.
func dial(t *testing.T, ns netns.NsHandle, addr string) (string, error) {
	t.Helper()
	var c net.Conn
	var err error
	netenvtest.InNS(t, ns, func() { c, err = net.DialTimeout("tcp", addr, 2*time.Second) })
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	b := make([]byte, 64)
	k, _ := c.Read(b)
	return string(b[:k]), nil
}

func refused(t *testing.T, ns netns.NsHandle, addr, what string) {
	t.Helper()
	seen, err := dial(t, ns, addr)
	if err == nil {
		t.Errorf("%s (%s) was reached (it saw %s)", what, addr, seen)
		return
	}
	if !strings.Contains(err.Error(), "refused") {
		t.Errorf("%s (%s): %v, want connection refused", what, addr, err)
	}
}

// TestFirewallInternet: with egress internet an env reaches the outside as the
// host (NAT) and Hearth's listener; it is refused the host's other ports, the
// metadata address, other envs and the deny rules, and an allow rule opens a host
// port.
func TestFirewallInternet(t *testing.T) {
	w := newWorld(t)
	deny, _ := ParseRule("192.168.77.2/32:8001")
	allow, _ := ParseRule("192.168.77.1:9002")
	n := openPolicy(t, w.host, "10.213.11.0/24", Policy{Egress: EgressInternet, ListenPort: testListenPort, Deny: []Rule{deny}, Allow: []Rule{allow}})
	env, other := netenvtest.NewNS(t), netenvtest.NewNS(t)
	l, err := n.Plumb(env)
	if err != nil {
		t.Fatal(err)
	}
	lo, err := n.Plumb(other)
	if err != nil {
		t.Fatal(err)
	}
	listen(t, w.outside, "192.168.77.2:8000")
	listen(t, w.outside, "192.168.77.2:8001")
	listen(t, w.outside, "169.254.169.254:80")
	listen(t, w.host, "10.213.11.1:7101")  // Hearth's function-facing listener
	listen(t, w.host, "10.213.11.1:4222")  // e.g. NATS on the gateway address
	listen(t, w.host, "192.168.77.1:9001") // the host's own service
	listen(t, w.host, "192.168.77.1:9002") // the same, opened by an allow rule
	listen(t, other, net.JoinHostPort(lo.Addr.String(), "7000"))

	if seen, err := dial(t, env, "192.168.77.2:8000"); err != nil || seen != "192.168.77.1" {
		t.Errorf("the outside: %q, %v; want reached, seeing the host's address 192.168.77.1", seen, err)
	}
	if seen, err := dial(t, env, "10.213.11.1:7101"); err != nil || seen != l.Addr.String() {
		t.Errorf("Hearth's listener: %q, %v; want reached, seeing the env's address %v", seen, err, l.Addr)
	}
	if _, err := dial(t, env, "192.168.77.1:9002"); err != nil {
		t.Errorf("a host port with an allow rule: %v", err)
	}
	refused(t, env, "192.168.77.2:8001", "a denied destination")
	refused(t, env, "169.254.169.254:80", "the metadata address")
	refused(t, env, "10.213.11.1:4222", "another port on the gateway")
	refused(t, env, "192.168.77.1:9001", "a host port without an allow rule")
	refused(t, env, net.JoinHostPort(lo.Addr.String(), "7000"), "another env")

	// IPv6: the veth pair has link-local addresses of its own; a host service on
	// [::] must not be reachable through the host side's.
	listen(t, w.host, "[::]:9004")
	ll := linkLocal(t, w.host, l.host)
	linkLocal(t, env, "eth0") // the env side's, usable as a source once its DAD is over
	if seen, err := dial(t, env, "["+ll+"%eth0]:9004"); err == nil {
		t.Errorf("the host's IPv6 link-local address on the env's link was reached (it saw %s)", seen)
	}
}

// linkLocal waits for the IPv6 link-local address of link in ns to finish its
// duplicate address detection and returns it.
func linkLocal(t *testing.T, ns netns.NsHandle, link string) string {
	t.Helper()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	l, err := h.LinkByName(link)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		addrs, _ := h.AddrList(l, netlink.FAMILY_V6)
		for _, a := range addrs {
			if a.IP.IsLinkLocalUnicast() && a.Flags&unix.IFA_F_TENTATIVE == 0 {
				return a.IP.String()
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s has no usable IPv6 link-local address after 5s: %v", link, addrs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestFirewallHearthOnly: egress hearth-only reaches Hearth's listener and the
// allow rules, nothing else.
func TestFirewallHearthOnly(t *testing.T) {
	w := newWorld(t)
	allow, _ := ParseRule("192.168.77.2/32:8002")
	n := openPolicy(t, w.host, "10.213.12.0/24", Policy{Egress: EgressHearthOnly, ListenPort: testListenPort, Allow: []Rule{allow}})
	env := netenvtest.NewNS(t)
	if _, err := n.Plumb(env); err != nil {
		t.Fatal(err)
	}
	listen(t, w.outside, "192.168.77.2:8000")
	listen(t, w.outside, "192.168.77.2:8002")
	listen(t, w.host, "10.213.12.1:7101")
	if _, err := dial(t, env, "10.213.12.1:7101"); err != nil {
		t.Errorf("Hearth's listener: %v", err)
	}
	if _, err := dial(t, env, "192.168.77.2:8002"); err != nil {
		t.Errorf("an allowed destination: %v", err)
	}
	refused(t, env, "192.168.77.2:8000", "the outside")
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	// Close removed the table: nothing of it is left in the host namespace.
	c, _ := n.nft()
	defer c.CloseLasting()
	if len(n.findTables(c)) > 0 {
		t.Error("the firewall's tables are still there after Close")
	}
	_ = netip.Addr{}
}
