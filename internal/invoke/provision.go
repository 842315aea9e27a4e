package invoke

import (
	"time"

	"github.com/hearthfn/hearth/internal/control"
	"github.com/hearthfn/hearth/internal/errdefs"
	"github.com/hearthfn/hearth/internal/worker"
)

// Provisioned concurrency: the registry keeps the configs, the worker keeps their
// envs, and the dispatcher's provisioner makes the worker's match the registry's —
// at start (so configs survive a restart or a crash), whenever the registry
// changes (a Put, a Delete, an alias moved, a version or function deleted), and
// every provisionResync regardless.

// Provisioner keeps provisioned envs (*worker.Pool).
type Provisioner interface {
	Provision(id, rev string, v *worker.Version, n int) error
	Provisions() []string
	ProvisionStatus(id, rev string, requested int) worker.ProvisionStatus
	CheckProvision(all []worker.ProvisionDemand) error
}

// provisionResync is how often the provisioner reconciles with no change seen.
const provisionResync = 15 * time.Second

// provisionFailure is why this host could not take a config's revision.
type provisionFailure struct {
	rev, reason string
}

// KickProvisioner has the provisioner reconcile now (after a Put or Delete).
func (d *Dispatcher) KickProvisioner() {
	select {
	case d.provKick <- struct{}{}:
	default:
	}
}

func (d *Dispatcher) provisioner() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var seen [4]uint64
	var last time.Time
	for {
		if stamp := d.ctl.ProvisionedStamp(); stamp != seen || time.Since(last) >= provisionResync {
			seen, last = stamp, time.Now()
			d.reconcileProvisioned()
		}
		select {
		case <-d.stop.Done():
			return
		case <-d.provKick:
			seen = [4]uint64{} // reconcile now
		case <-t.C:
		}
	}
}

// reconcileProvisioned provisions every config the registry lists and releases
// every one it does not.
func (d *Dispatcher) reconcileProvisioned() {
	targets, err := d.ctl.ProvisionedTargets()
	if err != nil {
		d.log.Warn("read provisioned concurrency configs", "err", err)
		return
	}
	listed := make(map[string]bool, len(targets))
	failed := map[string]provisionFailure{}
	for _, pt := range targets {
		if pt.Target == nil {
			continue // its alias or version is gone: released below
		}
		listed[pt.ID] = true
		if err := d.pool.Provision(pt.ID, pt.Rev, versionOf(pt.Target), pt.Requested); err != nil {
			failed[pt.ID] = provisionFailure{rev: pt.Rev, reason: errdefs.Message(err)}
			_ = d.pool.Provision(pt.ID, "", nil, 0)
			d.log.Warn("cannot provision concurrency", "config", pt.ID, "err", err)
		}
	}
	for _, id := range d.pool.Provisions() {
		if !listed[id] {
			_ = d.pool.Provision(id, "", nil, 0)
		}
	}
	d.provMu.Lock()
	d.provErr = failed
	d.provMu.Unlock()
}

// CheckProvision is the registry's ProvisionCheck: whether this host can hold all
// of the account's provisioned concurrency.
func (d *Dispatcher) CheckProvision(all []control.ProvisionDemand) error {
	demands := make([]worker.ProvisionDemand, len(all))
	for i, c := range all {
		demands[i] = worker.ProvisionDemand(c)
	}
	return d.pool.CheckProvision(demands)
}

// ProvisionedStatus fills in c's status and allocation from the envs this host
// keeps for it.
func (d *Dispatcher) ProvisionedStatus(c *control.ProvisionedConcurrencyConfig) {
	d.provMu.Lock()
	f, failed := d.provErr[c.ID]
	d.provMu.Unlock()
	st := d.pool.ProvisionStatus(c.ID, c.Rev, c.RequestedProvisionedConcurrentExecutions)
	if failed && f.rev == c.Rev {
		st.Status, st.StatusReason = "FAILED", f.reason
	}
	c.Status, c.StatusReason = st.Status, st.StatusReason
	c.AllocatedProvisionedConcurrentExecutions = st.Allocated
	c.AvailableProvisionedConcurrentExecutions = st.Available
}

// ProvisionedBusy is how many of the config's envs are running an invocation.
func (d *Dispatcher) ProvisionedBusy(c *control.ProvisionedConcurrencyConfig) int {
	return d.pool.ProvisionStatus(c.ID, c.Rev, c.RequestedProvisionedConcurrentExecutions).Busy
}
