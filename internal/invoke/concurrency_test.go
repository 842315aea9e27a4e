package invoke

import (
	"testing"

	"github.com/hearthfn/hearth/internal/control"
	"github.com/hearthfn/hearth/internal/errdefs"
)

// TestLocalCounter: reservations cap their function and never touch the pool; the
// pool caps every function without one; reserved 0 admits nothing; a release
// frees exactly one slot of the pool it was taken from, once.
func TestLocalCounter(t *testing.T) {
	c := newLocalCounter()
	pool := control.ConcurrencyLimits{Unreserved: 2}
	reserved := func(n int) control.ConcurrencyLimits {
		return control.ConcurrencyLimits{Reserved: n, HasReserved: true, Unreserved: 2}
	}
	want := func(fn string, l control.ConcurrencyLimits, reason string) func() {
		t.Helper()
		release, err := c.Acquire(fn, l)
		if got := errdefs.Reason(err); got != reason {
			t.Fatalf("Acquire(%s, %+v): %v (reason %q), want reason %q", fn, l, err, got, reason)
		}
		if err != nil && errdefs.KindOf(err) != errdefs.ErrTooManyRequests {
			t.Fatalf("a throttle of kind %v", errdefs.KindOf(err))
		}
		return release
	}
	want("off", reserved(0), ReasonReserved)
	r1 := want("r", reserved(1), "")
	want("r", reserved(1), ReasonReserved)
	a1 := want("a", pool, "")
	b1 := want("b", pool, "")
	want("a", pool, ReasonAccount)
	want("c", pool, ReasonAccount)
	if f, u := c.InFlight("a"); f != 1 || u != 2 {
		t.Fatalf("in flight: a %d, pool %d; want 1 and 2", f, u)
	}
	r1()
	r1() // twice: still one release
	want("r", reserved(1), "")
	if _, u := c.InFlight("r"); u != 2 {
		t.Fatalf("a reserved function's execution moved the pool to %d", u)
	}
	a1()
	a1()
	want("c", pool, "")
	want("c", pool, ReasonAccount)
	b1()
	if f, _ := c.InFlight("b"); f != 0 {
		t.Fatalf("b has %d in flight after its release", f)
	}
}
