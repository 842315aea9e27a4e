package control

import (
	"context"
	"regexp"
	"sort"
	"strconv"

	"github.com/hearthfn/hearth/internal/errdefs"
)

// Provisioned concurrency configs: how many envs of an alias's or a published
// version's code to keep initialised ahead of invocations. The registry keeps the
// configs (in the function's concurrency entry, so the account's pool is checked in
// the same compare-and-set as reservations); the worker allocates the envs and so
// answers for Status, Allocated and Available.

// ProvisionedConcurrencyConfig is Put/GetProvisionedConcurrencyConfigResponse and
// ProvisionedConcurrencyConfigListItem. The edge fills in the allocation from the
// worker; ID is what the worker knows the config by.
type ProvisionedConcurrencyConfig struct {
	FunctionArn                              string `json:"FunctionArn,omitempty"`
	RequestedProvisionedConcurrentExecutions int    `json:"RequestedProvisionedConcurrentExecutions"`
	AvailableProvisionedConcurrentExecutions int    `json:"AvailableProvisionedConcurrentExecutions"`
	AllocatedProvisionedConcurrentExecutions int    `json:"AllocatedProvisionedConcurrentExecutions"`
	Status                                   string `json:"Status"`
	StatusReason                             string `json:"StatusReason,omitempty"`
	LastModified                             string `json:"LastModified"`

	ID  string `json:"-"`
	Rev string `json:"-"` // changes with every Put
}

// ListProvisionedConcurrencyConfigsOutput is ListProvisionedConcurrencyConfigsResponse.
type ListProvisionedConcurrencyConfigsOutput struct {
	ProvisionedConcurrencyConfigs []*ProvisionedConcurrencyConfig `json:"ProvisionedConcurrencyConfigs"`
	NextMarker                    string                          `json:"NextMarker,omitempty"`
}

// ProvisionedTarget is one config as the worker provisions it: the version that
// runs (an alias's primary version), or nil when the qualifier no longer resolves.
type ProvisionedTarget struct {
	ID           string
	Rev          string
	FunctionName string
	Qualifier    string
	Requested    int
	Target       *InvokeTarget
}

// ProvisionDemand is one config's claim on the host: n envs of memoryMB.
type ProvisionDemand struct {
	ID       string
	MemoryMB int
	N        int
}

// ProvisionCheck is asked, before a config is stored, whether the host can hold
// every config the registry would then have (the worker's capacity). It is asked
// inside the compare-and-set that stores the config, with the configs that
// compare-and-set read, so racing Puts cannot both take the last room.
type ProvisionCheck func(all []ProvisionDemand) error

// eachConfig calls f for every provisioned config of every live function in m,
// with the version it provisions (nil when its qualifier no longer resolves to a
// published version).
func (s *Service) eachConfig(m map[string]reservation, f func(rec *functionRecord, q string, p provisionedRecord, v *versionConfig)) {
	for name, e := range m {
		if len(e.Provisioned) == 0 {
			continue
		}
		rec, _, err := s.loadFunction(name)
		if err != nil || rec.Gen != e.Gen {
			continue
		}
		for q, p := range e.Provisioned {
			var v *versionConfig
			if r, err := s.resolve(FunctionRef{Name: name}, q); err == nil && r.version.Version != Latest {
				v = r.version
			}
			f(rec, q, p, v)
		}
	}
}

// provisionDemands lists what every live function's configs in m claim.
func (s *Service) provisionDemands(m map[string]reservation) []ProvisionDemand {
	var out []ProvisionDemand
	s.eachConfig(m, func(rec *functionRecord, q string, p provisionedRecord, v *versionConfig) {
		if v != nil {
			out = append(out, ProvisionDemand{ID: provisionedID(rec, q), MemoryMB: v.MemorySize, N: p.Requested})
		}
	})
	return out
}

// MaxProvisionedListItems is ListProvisionedConcurrencyConfigs' page size limit.
const MaxProvisionedListItems = 50

// CheckProvisionedMaxItems checks a ListProvisionedConcurrencyConfigs MaxItems against
// the model (MaxProvisionedConcurrencyConfigListItems: 1 to 50); given says the
// caller sent one.
func CheckProvisionedMaxItems(n int, given bool) error {
	var errs modelErrors
	if given {
		checkRange(&errs, n, "maxItems", 1, MaxProvisionedListItems)
	}
	return errs.err()
}

func provisionedID(rec *functionRecord, qualifier string) string {
	return rec.Name + ":" + qualifier + "@" + rec.Gen
}

func (p provisionedRecord) rev() string { return strconv.Itoa(p.Requested) + "@" + p.LastModified }

// The provisioned-concurrency operations' ?Qualifier= is the model's plain Qualifier
// shape, not the NumericLatestPublishedOrAliasQualifier of the operations on a
// version: no ".", so no $LATEST.PUBLISHED.
const provisionedQualifierPattern = `(|[a-zA-Z0-9$_-]+)`

var provisionedQualifier = qualifierShape{provisionedQualifierPattern, regexp.MustCompile(`^[a-zA-Z0-9$_-]*$`).MatchString}

// provisionedRef resolves the function and qualifier of a provisioned-concurrency
// call: an alias or a published version, never $LATEST. check adds the violations of
// the call's other members, reported with the function name's and the qualifier's.
// Lambda looks the alias or version up by its ARN, so a missing function reads as a
// missing alias or version.
func (s *Service) provisionedRef(functionName, qualifier string, put bool, check func(errs *modelErrors)) (*functionRecord, string, *resolved, error) {
	var errs modelErrors
	ref, err := s.parseRef(shapeFunctionName, "functionName", functionName, &errs)
	if check != nil {
		check(&errs)
	}
	provisionedQualifier.check(&errs, qualifier)
	if qualifier == "" && ref.Qualifier == "" {
		// The model requires ?Qualifier=; Hearth also takes it from the name.
		errs.addNull("qualifier")
	}
	if e := errs.err(); e != nil {
		return nil, "", nil, e
	}
	if err != nil {
		return nil, "", nil, err
	}
	q, err := mergeQualifiers(ref, qualifier)
	if err != nil {
		return nil, "", nil, err
	}
	if q == Latest {
		return nil, "", nil, unpublished(put)
	}
	missing := "Function not found: %s"
	if !reVersion.MatchString(q) {
		missing = "Cannot find alias arn: %s"
	}
	rec, _, err := s.loadFunction(ref.Name)
	if err != nil {
		return nil, "", nil, rewordNotFound(err, missing, s.QualifiedArn(ref.Name, q))
	}
	r, err := s.resolve(FunctionRef{Name: rec.Name}, q)
	if err != nil {
		return nil, "", nil, rewordNotFound(err, missing, s.QualifiedArn(rec.Name, q))
	}
	if r.version.Version == Latest {
		// An alias of $LATEST provisions nothing Lambda could keep warm.
		return nil, "", nil, unpublished(put)
	}
	return rec, q, r, nil
}

// unpublished refuses $LATEST, as Put words it or as Get and Delete do.
func unpublished(put bool) error {
	if put {
		return errdefs.New(errdefs.ErrInvalidParameter, "Provisioned Concurrency Configs cannot be applied to unpublished function versions.")
	}
	return errdefs.New(errdefs.ErrInvalidParameter, "The function resource provided must be an alias or a published version.")
}

// targetVersion is the version a qualifier of rec stands for ("" if none).
func (s *Service) targetVersion(rec *functionRecord, q string) string {
	if reVersion.MatchString(q) {
		return q
	}
	a, err := s.loadAlias(rec, q)
	if err != nil {
		return ""
	}
	return a.FunctionVersion
}

// checkProvisionedMove refuses to point an alias that has a provisioned config at
// $LATEST or at a version another config already provisions: one version, one
// config (the reconciler then provisions the new version and drains the old).
func (s *Service) checkProvisionedMove(rec *functionRecord, alias, version string) error {
	m, _, err := s.reservations()
	if err != nil {
		return err
	}
	configs := entryOf(m, rec).Provisioned
	if _, ok := configs[alias]; !ok {
		return nil
	}
	if version == Latest {
		return unpublished(true)
	}
	for other := range configs {
		if other != alias && s.targetVersion(rec, other) == version {
			return errdefs.New(errdefs.ErrConflict, "Alias can't be used for Provisioned Concurrency configuration on an already Provisioned version")
		}
	}
	return nil
}

// PutProvisionedConcurrencyConfig stores a config for an alias or version; the
// answer is IN_PROGRESS with nothing allocated yet.
func (s *Service) PutProvisionedConcurrencyConfig(ctx context.Context, functionName, qualifier string, n *int, check ProvisionCheck) (*ProvisionedConcurrencyConfig, error) {
	rec, q, r, err := s.provisionedRef(functionName, qualifier, true, func(errs *modelErrors) {
		if n == nil {
			errs.addNull("provisionedConcurrentExecutions")
		} else if *n < 1 {
			errs.add(strconv.Itoa(*n), "provisionedConcurrentExecutions", "Member must have value greater than or equal to 1")
		}
	})
	if err != nil {
		return nil, err
	}
	id := provisionedID(rec, q)
	now := lambdaTime(s.now())
	err = s.updateReservations(ctx, func(m map[string]reservation) error {
		e := entryOf(m, rec)
		// One version, one config: through an alias or directly, not both.
		for other := range e.Provisioned {
			if other == q || s.targetVersion(rec, other) != r.version.Version {
				continue
			}
			if reVersion.MatchString(q) {
				return errdefs.New(errdefs.ErrConflict, "Version is pointed by a Provisioned Concurrency alias")
			}
			return errdefs.New(errdefs.ErrConflict, "Alias can't be used for Provisioned Concurrency configuration on an already Provisioned version")
		}
		total := *n
		for other, p := range e.Provisioned {
			if other != q {
				total += p.Requested
			}
		}
		if reserved, ok := e.reserved(); ok {
			if total > reserved {
				return errdefs.New(errdefs.ErrInvalidParameter, "Requested Provisioned Concurrency should not be greater than the reservedConcurrentExecution for function")
			}
		} else {
			free := s.accountLimit - s.liveCommitted(m, rec.Name)
			if total > free {
				return errdefs.New(errdefs.ErrInvalidParameter, "Specified ConcurrentExecutions for function is greater than account's unreserved concurrency [%d].", free)
			}
			if free-total < MinUnreservedConc {
				return errdefs.New(errdefs.ErrInvalidParameter, "Specified ConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [%d].", MinUnreservedConc)
			}
		}
		if e.Provisioned == nil {
			e.Provisioned = map[string]provisionedRecord{}
		} else {
			e.Provisioned = cloneProvisioned(e.Provisioned)
		}
		e.Provisioned[q] = provisionedRecord{Requested: *n, LastModified: now}
		m[rec.Name] = e
		// Lambda's limits first, then the host's.
		if check != nil {
			return check(s.provisionDemands(m))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &ProvisionedConcurrencyConfig{
		RequestedProvisionedConcurrentExecutions: *n,
		Status:                                   "IN_PROGRESS",
		LastModified:                             now,
		ID:                                       id,
		Rev:                                      provisionedRecord{Requested: *n, LastModified: now}.rev(),
	}, nil
}

func cloneProvisioned(in map[string]provisionedRecord) map[string]provisionedRecord {
	out := make(map[string]provisionedRecord, len(in)+1)
	for k, v := range in {
		out[k] = v
	}
	return out
}

// GetProvisionedConcurrencyConfig returns an alias's or version's config.
func (s *Service) GetProvisionedConcurrencyConfig(ctx context.Context, functionName, qualifier string) (*ProvisionedConcurrencyConfig, error) {
	rec, q, _, err := s.provisionedRef(functionName, qualifier, false, nil)
	if err != nil {
		return nil, err
	}
	m, _, err := s.reservations()
	if err != nil {
		return nil, err
	}
	p, ok := entryOf(m, rec).Provisioned[q]
	if !ok {
		return nil, errdefs.New(errdefs.ErrProvisionedConfigNotFound, "No Provisioned Concurrency Config found for this function")
	}
	return &ProvisionedConcurrencyConfig{
		RequestedProvisionedConcurrentExecutions: p.Requested,
		LastModified:                             p.LastModified,
		ID:                                       provisionedID(rec, q),
		Rev:                                      p.rev(),
	}, nil
}

// DeleteProvisionedConcurrencyConfig removes an alias's or version's config (none
// is not an error, as on Lambda).
func (s *Service) DeleteProvisionedConcurrencyConfig(ctx context.Context, functionName, qualifier string) error {
	rec, q, _, err := s.provisionedRef(functionName, qualifier, false, nil)
	if err != nil {
		return err
	}
	return s.dropProvisioned(ctx, rec, q)
}

// dropProvisioned removes rec's config for qualifier q, if it has one.
func (s *Service) dropProvisioned(ctx context.Context, rec *functionRecord, q string) error {
	m, _, err := s.reservations()
	if err != nil {
		return err
	}
	if _, ok := entryOf(m, rec).Provisioned[q]; !ok {
		return nil
	}
	return s.updateReservations(ctx, func(m map[string]reservation) error {
		e := entryOf(m, rec)
		if _, ok := e.Provisioned[q]; !ok {
			return nil
		}
		e.Provisioned = cloneProvisioned(e.Provisioned)
		delete(e.Provisioned, q)
		if len(e.Provisioned) == 0 {
			e.Provisioned = nil
			if e.Unreserved {
				delete(m, rec.Name)
				return nil
			}
		}
		m[rec.Name] = e
		return nil
	})
}

// ListProvisionedConcurrencyConfigs lists a function's configs, by qualifier.
func (s *Service) ListProvisionedConcurrencyConfigs(ctx context.Context, functionName, marker string, maxItems int) (*ListProvisionedConcurrencyConfigsOutput, error) {
	ref, err := s.ParseFunctionRef("functionName", functionName)
	if err != nil {
		return nil, err
	}
	if err := CheckProvisionedMaxItems(maxItems, maxItems != 0); err != nil {
		return nil, err
	}
	rec, _, err := s.loadFunction(ref.Name)
	if err != nil {
		return nil, err
	}
	m, _, err := s.reservations()
	if err != nil {
		return nil, err
	}
	var items []*ProvisionedConcurrencyConfig
	qualifiers := map[*ProvisionedConcurrencyConfig]string{}
	for q, p := range entryOf(m, rec).Provisioned {
		c := &ProvisionedConcurrencyConfig{
			FunctionArn:                              s.QualifiedArn(rec.Name, q),
			RequestedProvisionedConcurrentExecutions: p.Requested,
			LastModified:                             p.LastModified,
			ID:                                       provisionedID(rec, q),
			Rev:                                      p.rev(),
		}
		qualifiers[c] = q
		items = append(items, c)
	}
	sort.Slice(items, func(i, j int) bool { return lessKey(qualifiers[items[i]], qualifiers[items[j]]) })
	page, next, err := paginate(items, marker, maxItems, func(c *ProvisionedConcurrencyConfig) string { return qualifiers[c] }, lessKey)
	if err != nil {
		return nil, err
	}
	if page == nil {
		page = []*ProvisionedConcurrencyConfig{}
	}
	return &ListProvisionedConcurrencyConfigsOutput{ProvisionedConcurrencyConfigs: page, NextMarker: next}, nil
}

// ProvisionedTargets lists every live function's provisioned configs with the
// version each provisions: the worker's reconciler provisions what this lists and
// releases what it no longer does.
func (s *Service) ProvisionedTargets() ([]ProvisionedTarget, error) {
	m, _, err := s.reservations()
	if err != nil {
		return nil, err
	}
	var out []ProvisionedTarget
	s.eachConfig(m, func(rec *functionRecord, q string, p provisionedRecord, v *versionConfig) {
		pt := ProvisionedTarget{ID: provisionedID(rec, q), Rev: p.rev(), FunctionName: rec.Name, Qualifier: q, Requested: p.Requested}
		if v != nil {
			t := target(rec, v, s.QualifiedArn(rec.Name, q))
			pt.Target = &t
		}
		out = append(out, pt)
	})
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// ProvisionedStamp changes whenever ProvisionedTargets' answer may have.
func (s *Service) ProvisionedStamp() [4]uint64 {
	return [4]uint64{s.st.Settings.Changes(), s.st.Functions.Changes(), s.st.Versions.Changes(), s.st.Aliases.Changes()}
}
