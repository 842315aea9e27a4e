package netenv

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Limits bound what one env's traffic may take from the host, so that a function
// that floods the network slows only itself (issue 7). Each field: 0 is its
// default, a negative value turns that limit off.
type Limits struct {
	// MaxConnections caps the connections an env has open at once: conntrack
	// entries from its address (TCP and UDP flows, to the host's listener and
	// through it), counted by nftables' connlimit. Past it a new connection is
	// refused at once (ECONNREFUSED); it works again when one closes.
	MaxConnections int
	// NewConnectionsPerSec caps how fast an env opens connections, with a burst
	// of as many (refused past it, like MaxConnections).
	NewConnectionsPerSec int
	// BandwidthMbit shapes an env's traffic each way (to it and from it) to this
	// many Mbit/s, with a token bucket (tbf) on each end of its veth pair.
	BandwidthMbit int
}

// The defaults.
//
// MaxConnections: AWS documents no cap on a Lambda env's connections, but an env
// has 1,024 file descriptors, so a function cannot hold much more than a thousand
// sockets there: 1,000 is a cap a function that runs on Lambda does not hit.
// It bounds what one env can take of the host's conntrack table (nf_conntrack_max,
// 262,144 on the machine this was written on; a full table drops every new
// connection of the host, its API's clients included) and of the file
// descriptors of Hearth's function-facing listener. All envs together, at the
// default --max-envs (256), could still hold 256,000: a host that runs that many
// connection-heavy envs should raise nf_conntrack_max.
//
// NewConnectionsPerSec: 1,000 a second (burst 1,000) lets a function open its
// whole MaxConnections at once, then keep opening a thousand a second — far more
// than one invocation at a time needs — while bounding the conntrack, NAT and
// accept work one env can cause on the host (a loop of connect and close is not
// bounded by MaxConnections: closed connections leave the count at once).
//
// BandwidthMbit: AWS documents no bandwidth either; measurements published of
// Lambda envs range from a few hundred Mbit/s to about 600 Mbit/s, the larger
// memory sizes at the top. 600 Mbit/s each way keeps a function that works on
// Lambda working here, and keeps one env from taking a host's whole link (a
// second's worth of its traffic is then ~75 MB, not the veth's several Gbit/s).
const (
	DefaultMaxConnections       = 1000
	DefaultNewConnectionsPerSec = 1000
	DefaultBandwidthMbit        = 600
)

// withDefaults puts the defaults in the zero fields.
func (l Limits) withDefaults() Limits {
	if l.MaxConnections == 0 {
		l.MaxConnections = DefaultMaxConnections
	}
	if l.NewConnectionsPerSec == 0 {
		l.NewConnectionsPerSec = DefaultNewConnectionsPerSec
	}
	if l.BandwidthMbit == 0 {
		l.BandwidthMbit = DefaultBandwidthMbit
	}
	return l
}

func (l Limits) String() string {
	f := func(v int, unit string) string {
		if v < 0 {
			return "off"
		}
		return fmt.Sprintf("%d%s", v, unit)
	}
	return fmt.Sprintf("connections %s, new connections %s, bandwidth %s",
		f(l.MaxConnections, ""), f(l.NewConnectionsPerSec, "/s"), f(l.BandwidthMbit, " Mbit/s"))
}

// Connection limits: two dynamic sets keyed by the env's address, whose elements
// carry the state (a connlimit list, a token bucket), and one rule per set in the
// input and forward chains, so an env's count is one whatever it connects to. The
// rules look at a connection's first packet only (its conntrack entry not yet
// confirmed): later packets of an unanswered UDP flow are still "new" to
// conntrack, and must not count as new connections.

const (
	connSet = "env_conns" // connlimit per env address (no timeout: connlimit's own GC empties it)
	rateSet = "env_rate"  // token bucket per env address, forgotten after a minute unused
)

// addLimitSets declares the sets the limit rules use, if any limit is on.
func (n *Network) addLimitSets(c *nftables.Conn, t *nftables.Table) (conns, rate *nftables.Set, err error) {
	size := uint32(1) << (32 - n.cfg.Subnet.Bits())
	if n.limits.MaxConnections > 0 {
		conns = &nftables.Set{Table: t, Name: connSet, KeyType: nftables.TypeIPAddr, Dynamic: true, Size: size}
		if err := c.AddSet(conns, nil); err != nil {
			return nil, nil, fmt.Errorf("netenv: the connection limit's set: %w", err)
		}
	}
	if n.limits.NewConnectionsPerSec > 0 {
		rate = &nftables.Set{Table: t, Name: rateSet, KeyType: nftables.TypeIPAddr, Dynamic: true, HasTimeout: true, Timeout: time.Minute, Size: size}
		if err := c.AddSet(rate, nil); err != nil {
			return nil, nil, fmt.Errorf("netenv: the connection rate's set: %w", err)
		}
	}
	return conns, rate, nil
}

// limitRules are the rules that refuse an env's connection past its limits, for
// the start of a chain envs' packets go through.
func (n *Network) limitRules(fromEnv []expr.Any, conns, rate *nftables.Set) [][]expr.Any {
	saddr := &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4}
	var over []*expr.Dynset
	if rate != nil {
		r := uint64(n.limits.NewConnectionsPerSec)
		over = append(over, &expr.Dynset{
			SrcRegKey: 1, SetName: rate.Name, SetID: rate.ID, Operation: unix.NFT_DYNSET_OP_UPDATE, Timeout: time.Minute,
			Exprs: []expr.Any{&expr.Limit{Type: expr.LimitTypePkts, Rate: r, Unit: expr.LimitTimeSecond, Burst: uint32(r), Over: true}},
		})
	}
	if conns != nil {
		over = append(over, &expr.Dynset{
			SrcRegKey: 1, SetName: conns.Name, SetID: conns.ID, Operation: unix.NFT_DYNSET_OP_ADD,
			Exprs: []expr.Any{&expr.Connlimit{Count: uint32(n.limits.MaxConnections), Flags: expr.NFT_CONNLIMIT_F_INV}},
		})
	}
	// A TCP connection is refused with a reset, anything else with an ICMP
	// port-unreachable: both fail the function's connect at once, but the kernel
	// rate-limits ICMP errors to an address (a burst of 6, then one a second),
	// and a function refused in a loop would wait a SYN retransmission (1 s)
	// instead. One rule per protocol, so each packet meets each set once.
	var rules [][]expr.Any
	for _, d := range over {
		for _, tcp := range []bool{true, false} {
			op, refuse := expr.CmpOpEq, tcpReset()
			if !tcp {
				op, refuse = expr.CmpOpNeq, reject()
			}
			rules = append(rules, join(fromEnv, unconfirmed(), []expr.Any{
				&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
				&expr.Cmp{Op: op, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
				saddr, d,
			}, refuse))
		}
	}
	return rules
}

// tcpReset refuses a TCP connection with a reset (ECONNREFUSED at once).
func tcpReset() []expr.Any {
	return []expr.Any{&expr.Reject{Type: unix.NFT_REJECT_TCP_RST}}
}

func join(parts ...[]expr.Any) []expr.Any {
	var all []expr.Any
	for _, p := range parts {
		all = append(all, p...)
	}
	return all
}

// ipsConfirmed is the conntrack status bit IPS_CONFIRMED (linux/netfilter/nf_conntrack_common.h).
const ipsConfirmed = 1 << 3

// unconfirmed matches a connection's first packet: its conntrack entry is not
// yet confirmed (it is once the packet leaves the host's hooks).
func unconfirmed() []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATUS},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binary.NativeEndian.AppendUint32(nil, ipsConfirmed),
			Xor:  []byte{0, 0, 0, 0}},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{0, 0, 0, 0}},
	}
}

// Bandwidth: a tbf qdisc as the root of each end of the env's veth pair. The
// host side's shapes what the env receives, the env side's what it sends — its
// own root qdisc, which the function cannot remove: it has no CAP_NET_ADMIN (the
// namespace driver drops every capability; under gVisor the function never sees
// the host's interface). gVisor's Sentry sends the env's packets through an
// AF_PACKET socket on that interface without PACKET_QDISC_BYPASS, so they go
// through the same qdisc (TestShapedAFPacket sends that way). Checked once with
// runsc itself (2026-12-03, a static Go program in a `runsc --network sandbox`
// container on a plumbed namespace, bulk TCP to and from the gateway for 1.5 s):
// shaped to 40 Mbit/s it measured 38.8 each way, unshaped 1,468 up and 355 down.

// tbf is the qdisc for one end: rate, a burst of 4 ms of it (at least 128 KiB, so
// a 64 KiB GSO packet passes whole), and a queue of 20 ms more before it drops.
func (n *Network) tbf(link netlink.Link) *netlink.Tbf {
	rate := uint64(n.limits.BandwidthMbit) * 1_000_000 / 8 // bytes a second
	burst := max(rate/250, 128<<10)
	return &netlink.Tbf{
		QdiscAttrs: netlink.QdiscAttrs{LinkIndex: link.Attrs().Index, Handle: netlink.MakeHandle(1, 0), Parent: netlink.HANDLE_ROOT},
		Rate:       rate,
		Buffer:     netlink.Xmittime(rate, uint32(burst)),
		Limit:      uint32(burst + rate/50),
	}
}

// shape installs the tbf on link through h, if bandwidth is limited.
func (n *Network) shape(h *netlink.Handle, link netlink.Link) error {
	if n.limits.BandwidthMbit <= 0 {
		return nil
	}
	if err := h.QdiscReplace(n.tbf(link)); err != nil {
		return fmt.Errorf("netenv: shape %s to %d Mbit/s: %w", link.Attrs().Name, n.limits.BandwidthMbit, err)
	}
	return nil
}
