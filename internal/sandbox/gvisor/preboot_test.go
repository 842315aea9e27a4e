package gvisor

import (
	"testing"
	"time"
)

// TestPrebootDemand: a shape wants no spare until it has started twice, then as
// many as its largest recent burst (at most maxReady), and one once the burst has
// left the window.
func TestPrebootDemand(t *testing.T) {
	p := &preboot{demand: map[string]*demand{}}
	dm := &demand{}
	p.demand["s"] = dm
	t0 := time.Unix(1_000_000, 0)
	dm.record(t0)
	if got := p.want("s", t0); got != 0 {
		t.Errorf("after one Start: want %d, expected 0", got)
	}
	// A burst of 6 Starts 100 ms apart.
	for i := 1; i < 6; i++ {
		dm.record(t0.Add(time.Duration(i) * 100 * time.Millisecond))
	}
	now := t0.Add(time.Second)
	if got := p.want("s", now); got != 6 {
		t.Errorf("after a burst of 6: want %d, expected 6", got)
	}
	// A lone Start later does not lower the peak inside the window.
	dm.record(t0.Add(10 * time.Second))
	if got := p.want("s", t0.Add(11*time.Second)); got != 6 {
		t.Errorf("a lone Start after the burst: want %d, expected 6", got)
	}
	// Past the window: one.
	if got := p.want("s", t0.Add(2*demandWindow)); got != 1 {
		t.Errorf("after the window: want %d, expected 1", got)
	}
	// A burst larger than maxReady is capped.
	later := t0.Add(5 * demandWindow)
	for i := range 3 * maxReady {
		dm.record(later.Add(time.Duration(i) * 10 * time.Millisecond))
	}
	if got := p.want("s", later.Add(time.Second)); got != maxReady {
		t.Errorf("a burst of %d: want %d, expected %d", 3*maxReady, got, maxReady)
	}
	if got := p.want("unknown", later); got != 0 {
		t.Errorf("an unseen shape: want %d, expected 0", got)
	}
}
