package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"

	"github.com/hearthfn/hearth/internal/errdefs"
	"github.com/hearthfn/hearth/internal/store"
)

// Reserved and provisioned concurrency live in one settings key, a map of function
// → reservation, so that checking "the account keeps at least 100 unreserved" and
// writing the new reservation or provisioned config is one compare-and-set, even
// with many API nodes racing.

func (s *Service) reservations() (map[string]reservation, uint64, error) {
	e, ok := s.st.Settings.Get(keyReservedConcurrency)
	m := map[string]reservation{}
	if !ok {
		return m, 0, nil
	}
	if err := json.Unmarshal(e.Value, &m); err != nil {
		return nil, 0, fmt.Errorf("%w: corrupt reserved-concurrency record: %v", errdefs.ErrService, err)
	}
	return m, e.Revision, nil
}

// liveCommitted sums what functions take out of the account's pool (reservations,
// and provisioned concurrency of functions without one), counting only functions
// that still exist in the generation that made their entry (a crash can leave a
// deleted function's entry behind).
func (s *Service) liveCommitted(m map[string]reservation, except string) int {
	total := 0
	for name, r := range m {
		if name == except {
			continue
		}
		if rec, _, err := s.loadFunction(name); err == nil && rec.Gen == r.Gen {
			total += r.committed()
		}
	}
	return total
}

// entryOf is rec's entry in m, empty (and unreserved) when it has none or only a
// stale one from an earlier generation.
func entryOf(m map[string]reservation, rec *functionRecord) reservation {
	r, ok := m[rec.Name]
	if !ok || r.Gen != rec.Gen {
		return reservation{Gen: rec.Gen, Unreserved: true}
	}
	return r
}

func (s *Service) reservedFor(rec *functionRecord) (int, bool) {
	m, _, err := s.reservations()
	if err != nil {
		return 0, false
	}
	return entryOf(m, rec).reserved()
}

// updateReservations applies change to the map with compare-and-set.
func (s *Service) updateReservations(ctx context.Context, change func(m map[string]reservation) error) error {
	for attempt := 0; ; attempt++ {
		m, rev, err := s.reservations()
		if err != nil {
			return err
		}
		if err := change(m); err != nil {
			return err
		}
		b, _ := json.Marshal(m)
		if rev == 0 {
			_, err = s.st.Settings.Create(ctx, keyReservedConcurrency, b)
		} else {
			_, err = s.st.Settings.Update(ctx, keyReservedConcurrency, b, rev)
		}
		if err == nil {
			return nil
		}
		if !(errors.Is(err, store.ErrRevision) || errors.Is(err, store.ErrExists)) || attempt == maxAttempts {
			return storeError(err)
		}
		if _, _, err := s.st.Settings.Fresh(ctx, keyReservedConcurrency); err != nil {
			return storeError(err)
		}
	}
}

// errNotOnQualified refuses a reservation on a version or alias: it is the function's.
func errNotOnQualified() error {
	return errdefs.New(errdefs.ErrInvalidParameter, "This operation is permitted on Lambda functions only. Aliases and versions do not support this operation. Please specify either a function name or an unqualified function ARN.")
}

// PutFunctionConcurrency reserves concurrency for a function.
func (s *Service) PutFunctionConcurrency(ctx context.Context, functionName string, n *int) (*Concurrency, error) {
	ref, err := s.parseFunctionWith(functionName, func(errs *modelErrors) {
		if n == nil {
			errs.addNull("reservedConcurrentExecutions")
		} else if *n < 0 {
			errs.add(strconv.Itoa(*n), "reservedConcurrentExecutions", "Member must have value greater than or equal to 0")
		}
	})
	if err != nil {
		return nil, err
	}
	if ref.Qualifier != "" {
		return nil, errNotOnQualified()
	}
	rec, _, err := s.loadFunction(ref.Name)
	if err != nil {
		// Lambda names the version a reservation would be checked against.
		return nil, rewordNotFound(err, "Function not found: %s", s.QualifiedArn(ref.Name, Latest))
	}
	err = s.updateReservations(ctx, func(m map[string]reservation) error {
		r := entryOf(m, rec)
		// Provisioned concurrency runs within the reservation (AWS's message, sic).
		if p := r.provisioned(); *n < p {
			return errdefs.New(errdefs.ErrInvalidParameter, " ReservedConcurrentExecutions  %d should not be lower than function's total provisioned concurrency [%d].", *n, p)
		}
		// 0, Lambda's kill switch, takes nothing from the pool: always accepted.
		if *n > 0 && s.accountLimit-s.liveCommitted(m, rec.Name)-*n < MinUnreservedConc {
			return errdefs.New(errdefs.ErrInvalidParameter, "Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [%d].", MinUnreservedConc)
		}
		r.N, r.Unreserved = *n, false
		m[rec.Name] = r
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &Concurrency{ReservedConcurrentExecutions: n}, nil
}

// GetFunctionConcurrency returns a function's reservation, if it has one.
func (s *Service) GetFunctionConcurrency(ctx context.Context, functionName string) (*Concurrency, error) {
	ref, err := s.ParseFunctionRef("functionName", functionName)
	if err != nil {
		return nil, err
	}
	rec, _, err := s.loadFunction(ref.Name)
	if err != nil {
		return nil, err
	}
	out := &Concurrency{}
	if n, ok := s.reservedFor(rec); ok {
		out.ReservedConcurrentExecutions = &n
	}
	return out, nil
}

// DeleteFunctionConcurrency removes a function's reservation.
func (s *Service) DeleteFunctionConcurrency(ctx context.Context, functionName string) error {
	ref, err := s.ParseFunctionRef("functionName", functionName)
	if err != nil {
		return err
	}
	if ref.Qualifier != "" {
		return errNotOnQualified()
	}
	rec, _, err := s.loadFunction(ref.Name)
	if err != nil {
		return err
	}
	m, _, err := s.reservations()
	if err != nil {
		return err
	}
	if _, ok := entryOf(m, rec).reserved(); !ok {
		return nil
	}
	return s.updateReservations(ctx, func(m map[string]reservation) error {
		r := entryOf(m, rec)
		if len(r.Provisioned) == 0 {
			delete(m, rec.Name)
			return nil
		}
		// Its provisioned concurrency stays, now out of the unreserved pool.
		r.N, r.Unreserved = 0, true
		m[rec.Name] = r
		return nil
	})
}

// clearReservation removes a deleted function's entry: its reservation and its
// provisioned configs.
func (s *Service) clearReservation(ctx context.Context, name string) error {
	m, _, err := s.reservations()
	if err != nil {
		return err
	}
	if _, ok := m[name]; !ok {
		return nil
	}
	return s.updateReservations(ctx, func(m map[string]reservation) error {
		delete(m, name)
		return nil
	})
}

// GetAccountSettings reports Lambda's limits and this account's usage.
func (s *Service) GetAccountSettings(ctx context.Context) (*AccountSettings, error) {
	m, _, err := s.reservations()
	if err != nil {
		return nil, err
	}
	out := &AccountSettings{AccountLimit: AccountLimit{
		TotalCodeSize:                  TotalCodeSizeBytes,
		CodeSizeUnzipped:               MaxUnzippedBytes,
		CodeSizeZipped:                 MaxZippedBytes,
		ConcurrentExecutions:           s.accountLimit,
		UnreservedConcurrentExecutions: s.accountLimit - s.liveCommitted(m, ""),
	}}
	for _, name := range s.st.Functions.Keys("") {
		rec, _, err := s.loadFunction(name)
		if err != nil {
			continue
		}
		out.AccountUsage.FunctionCount++
		out.AccountUsage.TotalCodeSize += rec.Latest.CodeSize
		for _, v := range s.versionsOf(rec) {
			out.AccountUsage.TotalCodeSize += v.CodeSize
		}
	}
	return out, nil
}

// ConcurrencyLimits is what limits one function's concurrent executions, as the
// dispatcher enforces them: its reservation when it has one (a ceiling, carved out
// of the account), else the account's unreserved pool, shared by every function
// without a reservation. Executions on provisioned envs are not counted against
// either: the provisioned configs are carved out of the reservation, or of the
// account, ahead.
type ConcurrencyLimits struct {
	Reserved    int  // the function's reservation; meaningful when HasReserved
	HasReserved bool //
	Provisioned int  // the sum of the function's provisioned configs
	Unreserved  int  // the account limit less every reservation and unreserved function's provisioned configs
}

// OnDemand is how many executions of the function may run on on-demand envs, when
// it has a reservation: what its provisioned concurrency leaves of it.
func (l ConcurrencyLimits) OnDemand() int { return max(l.Reserved-l.Provisioned, 0) }

// limitsCache is the reservations as of a Settings and Functions change stamp:
// decoding the map and checking each entry's function on every invoke would cost
// more than the invoke's own bookkeeping.
type limitsCache struct {
	stamp      [2]uint64
	entries    map[string]reservation // live functions' only
	unreserved int
}

// ConcurrencyLimits returns the limits in force for the function named name.
func (s *Service) ConcurrencyLimits(name string) (ConcurrencyLimits, error) {
	stamp := [2]uint64{s.st.Settings.Changes(), s.st.Functions.Changes()}
	c, _ := s.limits.Load().(*limitsCache)
	if c == nil || c.stamp != stamp {
		m, _, err := s.reservations()
		if err != nil {
			return ConcurrencyLimits{}, err
		}
		c = &limitsCache{stamp: stamp, entries: map[string]reservation{}}
		total := 0
		for fn, r := range m {
			if rec, _, err := s.loadFunction(fn); err == nil && rec.Gen == r.Gen {
				c.entries[fn] = r
				total += r.committed()
			}
		}
		c.unreserved = s.accountLimit - total
		s.limits.Store(c)
	}
	r, ok := c.entries[name]
	if !ok {
		r.Unreserved = true
	}
	n, has := r.reserved()
	return ConcurrencyLimits{Reserved: n, HasReserved: has, Provisioned: r.provisioned(), Unreserved: c.unreserved}, nil
}

// FunctionNames lists every function's name, sorted.
func (s *Service) FunctionNames() []string {
	names := s.st.Functions.Keys("")
	sort.Strings(names)
	return names
}
