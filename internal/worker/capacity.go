package worker

import (
	"bufio"
	"os"
	"strconv"
	"strings"

	"github.com/hearthfn/hearth/internal/errdefs"
)

// Capacity: what the host may run at once, and which idle env makes room.

// defaultMemoryBudgetMB is three quarters of the host's memory.
func defaultMemoryBudgetMB() int {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 4096
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, _ := strconv.Atoi(fields[1])
			return kb / 1024 * 3 / 4
		}
	}
	return 4096
}

// makeRoomLocked makes room for a new env of memMB within the host's caps
// (MaxEnvs, MaxMemoryMB), evicting idle on-demand envs — of any version, least
// recently used first — before refusing with 429. An on-demand env (onDemand) must
// also leave room for the provisioned envs still to start: the room their configs
// were promised when they were put. It returns the evicted envs, already off the
// books, for the caller to kill once it has let go of the pool's lock.
func (p *Pool) makeRoomLocked(memMB int, onDemand bool) ([]*env, error) {
	var victims []*env
	var heldEnvs, heldMB int
	if onDemand {
		heldEnvs, heldMB = p.provisionPendingLocked()
	}
	for len(p.envs)+heldEnvs >= p.cfg.MaxEnvs || p.usedMB+heldMB+memMB > p.cfg.MaxMemoryMB {
		victim := p.lruIdleLocked()
		if victim == nil {
			return victims, errdefs.RetryLater("", 1,
				"Rate Exceeded. This Hearth host is at capacity (%d execution environments, %d of %d MB in use); retry later or raise --max-envs / --max-memory-mb.",
				len(p.envs), p.usedMB, p.cfg.MaxMemoryMB)
		}
		p.forgetLocked(victim)
		victims = append(victims, victim)
	}
	return victims, nil
}

// provisionPendingLocked is the envs, and their memory, that provisioned configs
// still mean to start.
func (p *Pool) provisionPendingLocked() (envs, mb int) {
	for _, pr := range p.provs {
		if pr.failure != "" {
			continue
		}
		if n := pr.want - len(pr.envs) - pr.starting; n > 0 {
			envs += n
			mb += n * pr.v.MemoryMB
		}
	}
	return envs, mb
}

// lruIdleLocked picks the least recently used idle or frozen env.
func (p *Pool) lruIdleLocked() *env {
	var victim *env
	for _, list := range p.idle {
		for _, e := range list {
			if victim == nil || e.lastUsed.Before(victim.lastUsed) {
				victim = e
			}
		}
	}
	return victim
}
