package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/hearthfn/hearth/internal/errdefs"
	"github.com/hearthfn/hearth/internal/store"
)

// Reserved concurrency lives in one settings key, a map of function → reservation,
// so that checking "the account keeps at least 100 unreserved" and writing the new
// reservation is one compare-and-set, even with many API nodes.

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

// liveReserved sums the reservations of functions that still exist in the
// generation that made them (a crash can leave a deleted function's entry behind).
func (s *Service) liveReserved(m map[string]reservation, except string) int {
	total := 0
	for name, r := range m {
		if name == except {
			continue
		}
		if rec, _, err := s.loadFunction(name); err == nil && rec.Gen == r.Gen {
			total += r.N
		}
	}
	return total
}

func (s *Service) reservedFor(rec *functionRecord) (int, bool) {
	m, _, err := s.reservations()
	if err != nil {
		return 0, false
	}
	r, ok := m[rec.Name]
	if !ok || r.Gen != rec.Gen {
		return 0, false
	}
	return r.N, true
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

// PutFunctionConcurrency reserves concurrency for a function.
func (s *Service) PutFunctionConcurrency(ctx context.Context, functionName string, n *int) (*Concurrency, error) {
	ref, err := s.ParseFunctionRef("functionName", functionName)
	if err != nil {
		return nil, err
	}
	if ref.Qualifier != "" {
		return nil, errdefs.New(errdefs.ErrInvalidParameter, "Reserved concurrency applies to a whole function; remove the qualifier %q.", ref.Qualifier)
	}
	if n == nil {
		return nil, validationError("null", "reservedConcurrentExecutions", "Member must not be null")
	}
	if *n < 0 {
		return nil, validationError(fmt.Sprint(*n), "reservedConcurrentExecutions", "Member must have value greater than or equal to 0")
	}
	rec, _, err := s.loadFunction(ref.Name)
	if err != nil {
		return nil, err
	}
	err = s.updateReservations(ctx, func(m map[string]reservation) error {
		// 0, Lambda's kill switch, takes nothing from the pool: always accepted.
		if *n > 0 && s.accountLimit-s.liveReserved(m, rec.Name)-*n < MinUnreservedConc {
			return errdefs.New(errdefs.ErrInvalidParameter, "Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [%d].", MinUnreservedConc)
		}
		m[rec.Name] = reservation{Gen: rec.Gen, N: *n}
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
	if _, _, err := s.loadFunction(ref.Name); err != nil {
		return err
	}
	return s.clearReservation(ctx, ref.Name)
}

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
		UnreservedConcurrentExecutions: s.accountLimit - s.liveReserved(m, ""),
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
// without a reservation.
type ConcurrencyLimits struct {
	Reserved    int  // the function's reservation; meaningful when HasReserved
	HasReserved bool //
	Unreserved  int  // the account limit less every reservation
}

// limitsCache is the reservations as of a Settings and Functions change stamp:
// decoding the map and checking each entry's function on every invoke would cost
// more than the invoke's own bookkeeping.
type limitsCache struct {
	stamp      [2]uint64
	reserved   map[string]int
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
		c = &limitsCache{stamp: stamp, reserved: map[string]int{}}
		total := 0
		for fn, r := range m {
			if rec, _, err := s.loadFunction(fn); err == nil && rec.Gen == r.Gen {
				c.reserved[fn] = r.N
				total += r.N
			}
		}
		c.unreserved = s.accountLimit - total
		s.limits.Store(c)
	}
	n, ok := c.reserved[name]
	return ConcurrencyLimits{Reserved: n, HasReserved: ok, Unreserved: c.unreserved}, nil
}

// FunctionNames lists every function's name, sorted.
func (s *Service) FunctionNames() []string {
	names := s.st.Functions.Keys("")
	sort.Strings(names)
	return names
}
