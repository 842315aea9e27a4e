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
// (MaxEnvs, MaxMemoryMB), evicting idle envs — of any version, least recently used
// first — before refusing with 429. It returns the evicted envs, already off the
// books, for the caller to kill once it has let go of the pool's lock.
func (p *Pool) makeRoomLocked(memMB int) ([]*env, error) {
	var victims []*env
	for len(p.envs) >= p.cfg.MaxEnvs || p.usedMB+memMB > p.cfg.MaxMemoryMB {
		victim := p.lruIdleLocked()
		if victim == nil {
			return victims, errdefs.New(errdefs.ErrTooManyRequests,
				"Rate Exceeded. This Hearth host is at capacity (%d execution environments, %d of %d MB in use); retry later or raise --max-envs / --max-memory-mb.",
				len(p.envs), p.usedMB, p.cfg.MaxMemoryMB)
		}
		p.forgetLocked(victim)
		victims = append(victims, victim)
	}
	return victims, nil
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
