package netenv

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Egress says where envs may open connections (`hearth serve --egress`).
type Egress string

const (
	// EgressInternet: anywhere but the host, link-local addresses and other envs
	// (Lambda's default).
	EgressInternet Egress = "internet"
	// EgressHearthOnly: Hearth's function-facing listener and the allow rules only.
	EgressHearthOnly Egress = "hearth-only"
	// EgressNone: no env network at all; envs have loopback only. netenv is not
	// used then.
	EgressNone Egress = "none"
)

// Rule names destinations: a prefix and, optionally, one TCP/UDP port.
type Rule struct {
	Prefix netip.Prefix
	Port   uint16 // 0: every port
}

// ParseRule reads "CIDR" or "CIDR:port" (an address alone is a /32), as
// --egress-allow and --egress-deny take them.
func ParseRule(s string) (Rule, error) {
	addr, port := s, ""
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		addr, port = s[:i], s[i+1:]
	}
	var r Rule
	if port != "" {
		p, err := strconv.ParseUint(port, 10, 16)
		if err != nil || p == 0 {
			return Rule{}, fmt.Errorf("egress rule %q: the port must be 1-65535", s)
		}
		r.Port = uint16(p)
	}
	if strings.Contains(addr, "/") {
		p, err := netip.ParsePrefix(addr)
		if err != nil {
			return Rule{}, fmt.Errorf("egress rule %q: want CIDR or CIDR:port (e.g. 10.0.0.0/8 or 192.0.2.10/32:443): %v", s, err)
		}
		r.Prefix = p.Masked()
	} else {
		a, err := netip.ParseAddr(addr)
		if err != nil {
			return Rule{}, fmt.Errorf("egress rule %q: want CIDR or CIDR:port (e.g. 10.0.0.0/8 or 192.0.2.10/32:443): %v", s, err)
		}
		r.Prefix = netip.PrefixFrom(a, a.BitLen())
	}
	if !r.Prefix.Addr().Is4() {
		return Rule{}, fmt.Errorf("egress rule %q: envs have IPv4 only", s)
	}
	return r, nil
}

func (r Rule) String() string {
	if r.Port == 0 {
		return r.Prefix.String()
	}
	return r.Prefix.String() + ":" + strconv.Itoa(int(r.Port))
}

// Policy is what the firewall enforces for the envs.
type Policy struct {
	Egress Egress
	// ListenPort is the TCP port of Hearth's function-facing listener on the
	// gateway; 0: none.
	ListenPort uint16
	// Allow opens destinations the mode would refuse, the host's own included;
	// Deny closes them (Deny is checked first).
	Allow, Deny []Rule
}

// The firewall: one nftables table (family ip) per Network, named after it,
// replaced whole in one batch, deleted by Close and by the next Open after a crash.
// Every rule matches the envs by the host-side interface name prefix, so plumbing
// an env adds no rule. Always refused, whatever the mode: the host itself (every
// local address and port but the listener and allow rules — the Lambda API, NATS,
// SSH), link-local addresses (instance metadata), other envs, and connections into
// an env. Refused means an ICMP port-unreachable: the function's connect fails at
// once (ECONNREFUSED) instead of timing out. First in the input and forward
// chains, an env's connections past its limits are refused (limits.go).

func (n *Network) tableName() string { return "hearth_" + n.bridge[:len(n.bridge)-2] }

// setFirewall installs (or replaces) the Network's table.
func (n *Network) setFirewall(p Policy) error {
	c, err := n.nft()
	if err != nil {
		return err
	}
	defer c.CloseLasting()
	for _, old := range n.findTables(c) {
		c.DelTable(old)
	}
	n.dropIPv6(c)
	t := c.AddTable(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: n.tableName()})
	accept := nftables.ChainPolicyAccept
	input := c.AddChain(&nftables.Chain{Name: "input", Table: t, Type: nftables.ChainTypeFilter, Hooknum: nftables.ChainHookInput, Priority: nftables.ChainPriorityFilter, Policy: &accept})
	forward := c.AddChain(&nftables.Chain{Name: "forward", Table: t, Type: nftables.ChainTypeFilter, Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter, Policy: &accept})
	post := c.AddChain(&nftables.Chain{Name: "postrouting", Table: t, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource})

	add := func(ch *nftables.Chain, e ...[]expr.Any) {
		var all []expr.Any
		for _, x := range e {
			all = append(all, x...)
		}
		c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: all})
	}
	fromEnv := ifname(unix.NFT_META_IIFNAME, n.prefix, expr.CmpOpEq)
	toEnv := ifname(unix.NFT_META_OIFNAME, n.prefix, expr.CmpOpEq)
	// An env's connections past its limits (limits.go), first in both chains.
	conns, rate, err := n.addLimitSets(c, t)
	if err != nil {
		return err
	}
	for _, ch := range []*nftables.Chain{input, forward} {
		for _, r := range n.limitRules(fromEnv, conns, rate) {
			add(ch, r)
		}
	}
	// The deny rules, then the allow rules, into a chain.
	rules := func(ch *nftables.Chain, p Policy) {
		for _, r := range p.Deny {
			for _, alt := range ports(r.Port) {
				add(ch, fromEnv, dest(r.Prefix), alt, reject())
			}
		}
		for _, r := range p.Allow {
			for _, alt := range ports(r.Port) {
				add(ch, fromEnv, dest(r.Prefix), alt, verdict(expr.VerdictAccept))
			}
		}
	}

	// To the host.
	add(input, fromEnv, established(), verdict(expr.VerdictAccept))
	if p.ListenPort != 0 {
		add(input, fromEnv, dest(netip.PrefixFrom(n.gw, 32)), tcpPort(p.ListenPort), verdict(expr.VerdictAccept))
	}
	rules(input, p)
	add(input, fromEnv, reject())

	// Through the host.
	add(forward, toEnv, established(), verdict(expr.VerdictAccept))
	add(forward, toEnv, reject())                       // nothing opens a connection into an env
	add(forward, fromEnv, dest(n.cfg.Subnet), reject()) // nor from one env to another
	add(forward, fromEnv, dest(netip.MustParsePrefix("169.254.0.0/16")), reject())
	rules(forward, p)
	if p.Egress == EgressInternet {
		add(forward, fromEnv, verdict(expr.VerdictAccept))
	} else {
		add(forward, fromEnv, reject())
	}

	// Out: the env's address becomes the host's.
	add(post, source(n.cfg.Subnet), ifname(unix.NFT_META_OIFNAME, n.prefix, expr.CmpOpNeq), []expr.Any{&expr.Masq{}})

	if err := c.Flush(); err != nil {
		return fmt.Errorf("netenv: install the firewall (nftables table %s): %w", n.tableName(), err)
	}
	if p.Egress == EgressInternet || len(p.Allow) > 0 {
		return n.enableForwarding()
	}
	return nil
}

// removeFirewall deletes the Network's table, if there is one.
func (n *Network) removeFirewall() error {
	c, err := n.nft()
	if err != nil {
		return err
	}
	defer c.CloseLasting()
	tables := n.findTables(c)
	if len(tables) == 0 {
		return nil
	}
	for _, t := range tables {
		c.DelTable(t)
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("netenv: remove the firewall: %w", err)
	}
	return nil
}

func (n *Network) nft() (*nftables.Conn, error) {
	opts := []nftables.ConnOption{nftables.AsLasting()}
	if n.cfg.HostNS > 0 {
		opts = append(opts, nftables.WithNetNSFd(int(n.cfg.HostNS)))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("netenv: nftables: %w", err)
	}
	return c, nil
}

// findTables lists the Network's tables (its ip one and its ip6 one) that exist.
func (n *Network) findTables(c *nftables.Conn) []*nftables.Table {
	var found []*nftables.Table
	for _, fam := range []nftables.TableFamily{nftables.TableFamilyIPv4, nftables.TableFamilyIPv6} {
		tables, _ := c.ListTablesOfFamily(fam)
		for _, t := range tables {
			if t.Name == n.tableName() {
				found = append(found, t)
			}
		}
	}
	return found
}

// dropIPv6 adds the Network's ip6 table: envs have IPv4 only, but each veth pair
// has IPv6 link-local addresses of its own, through which an env reached host
// services listening on [::]. Every IPv6 packet from or to an env is dropped.
func (n *Network) dropIPv6(c *nftables.Conn) {
	t := c.AddTable(&nftables.Table{Family: nftables.TableFamilyIPv6, Name: n.tableName()})
	accept := nftables.ChainPolicyAccept // the host's own IPv6 traffic
	for _, hook := range []struct {
		name string
		hook *nftables.ChainHook
	}{{"input", nftables.ChainHookInput}, {"forward", nftables.ChainHookForward}} {
		ch := c.AddChain(&nftables.Chain{Name: hook.name, Table: t, Type: nftables.ChainTypeFilter, Hooknum: hook.hook, Priority: nftables.ChainPriorityFilter, Policy: &accept})
		for _, key := range []uint32{unix.NFT_META_IIFNAME, unix.NFT_META_OIFNAME} {
			c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: append(ifname(key, n.prefix, expr.CmpOpEq), verdict(expr.VerdictDrop)...)})
		}
	}
}

// enableForwarding turns on IPv4 forwarding in the host namespace (envs' traffic
// to anywhere but the host is forwarded); Close puts back what it found.
//
// With a StateDir, what it found is also written there first (forwardWasFile), so
// that the watchdog puts it back after a crash, and a server restarted after one
// that found forwarding on — its predecessor's doing — still knows what the host
// had before.
func (n *Network) enableForwarding() error {
	saved, haveSaved := readForwardWas(n.cfg.StateDir)
	was, err := n.forwarding("1")
	if err != nil {
		return fmt.Errorf("netenv: enable IPv4 forwarding: %w", err)
	}
	if haveSaved {
		was = saved
	}
	if was != "1" {
		n.forwardWas = was
		if err := writeForwardWas(n.cfg.StateDir, was); err != nil {
			return err
		}
	}
	return nil
}

// restoreForwarding undoes enableForwarding.
func (n *Network) restoreForwarding() error {
	if n.forwardWas == "" {
		return nil
	}
	if _, err := n.forwarding(n.forwardWas); err != nil {
		return fmt.Errorf("netenv: restore IPv4 forwarding: %w", err)
	}
	n.forwardWas = ""
	removeForwardWas(n.cfg.StateDir)
	return nil
}

// forwarding sets net.ipv4.ip_forward in the host namespace and returns what it was.
func (n *Network) forwarding(v string) (string, error) {
	const path = "/proc/sys/net/ipv4/ip_forward"
	set := func() (string, error) {
		old, err := os.ReadFile(path)
		if err != nil {
			return "", err
		}
		return strings.TrimSpace(string(old)), os.WriteFile(path, []byte(v), 0o644)
	}
	if n.cfg.HostNS <= 0 {
		return set()
	}
	type result struct {
		old string
		err error
	}
	rc := make(chan result, 1)
	go func() {
		// A thread of its own, never unlocked: it changes namespace, and the
		// runtime drops it when the goroutine ends.
		runtime.LockOSThread()
		if err := netns.Set(n.cfg.HostNS); err != nil {
			rc <- result{err: err}
			return
		}
		old, err := set()
		rc <- result{old, err}
	}()
	r := <-rc
	return r.old, r.err
}

// Expressions. Register 1 throughout.

func ifname(key uint32, prefix string, op expr.CmpOp) []expr.Any {
	// A compare of the prefix's bytes only is nftables' "name*" wildcard.
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKey(key), Register: 1},
		&expr.Cmp{Op: op, Register: 1, Data: []byte(prefix)},
	}
}

func dest(p netip.Prefix) []expr.Any   { return addrIn(16, p) }
func source(p netip.Prefix) []expr.Any { return addrIn(12, p) }

// addrIn matches the IPv4 header's address at offset against p.
func addrIn(offset uint32, p netip.Prefix) []expr.Any {
	mask := make([]byte, 4)
	binary.BigEndian.PutUint32(mask, ^uint32(0)<<(32-p.Bits()))
	if p.Bits() == 0 {
		mask = []byte{0, 0, 0, 0}
	}
	a := p.Masked().Addr().As4()
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask, Xor: []byte{0, 0, 0, 0}},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: a[:]},
	}
}

// ports are the matches for a rule's port: none for every port, else one for TCP
// and one for UDP (each becomes its own rule).
func ports(p uint16) [][]expr.Any {
	if p == 0 {
		return [][]expr.Any{nil}
	}
	b := binary.BigEndian.AppendUint16(nil, p)
	var alts [][]expr.Any
	for _, proto := range []byte{unix.IPPROTO_TCP, unix.IPPROTO_UDP} {
		alts = append(alts, []expr.Any{
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: b},
		})
	}
	return alts
}

// tcpPort matches one TCP destination port.
func tcpPort(p uint16) []expr.Any { return ports(p)[0] }

func established() []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binary.NativeEndian.AppendUint32(nil, expr.CtStateBitESTABLISHED|expr.CtStateBitRELATED),
			Xor:  []byte{0, 0, 0, 0}},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{0, 0, 0, 0}},
	}
}

func verdict(k expr.VerdictKind) []expr.Any { return []expr.Any{&expr.Verdict{Kind: k}} }

// reject answers ICMP port-unreachable: connect() fails at once with ECONNREFUSED.
func reject() []expr.Any {
	return []expr.Any{&expr.Reject{Type: unix.NFT_REJECT_ICMP_UNREACH, Code: 3 /* ICMP port unreachable */}}
}
