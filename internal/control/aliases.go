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

func (s *Service) loadAlias(rec *functionRecord, alias string) (*aliasRecord, error) {
	a, _, err := s.loadAliasRev(rec, alias)
	return a, err
}

func (s *Service) loadAliasRev(rec *functionRecord, alias string) (*aliasRecord, uint64, error) {
	e, ok := s.st.Aliases.Get(aliasKey(rec.Name, rec.Gen, alias))
	if !ok {
		return nil, 0, errdefs.New(errdefs.ErrNotFound, "Alias not found: %s", s.QualifiedArn(rec.Name, alias))
	}
	var a aliasRecord
	if err := json.Unmarshal(e.Value, &a); err != nil {
		return nil, 0, fmt.Errorf("%w: corrupt alias record: %v", errdefs.ErrService, err)
	}
	return &a, e.Revision, nil
}

func (s *Service) aliasesOf(rec *functionRecord) []*aliasRecord {
	var out []*aliasRecord
	prefix := versionPrefix(rec.Name, rec.Gen)
	for _, k := range s.st.Aliases.Keys(prefix) {
		if a, err := s.loadAlias(rec, k[len(prefix):]); err == nil {
			out = append(out, a)
		}
	}
	return out
}

func (s *Service) renderAlias(name string, a *aliasRecord) *AliasConfiguration {
	c := &AliasConfiguration{
		AliasArn:        s.QualifiedArn(name, a.Name),
		Name:            a.Name,
		FunctionVersion: a.FunctionVersion,
		Description:     a.Description,
		RevisionId:      a.RevisionId,
	}
	if len(a.Weights) > 0 {
		c.RoutingConfig = &AliasRoutingConfiguration{AdditionalVersionWeights: a.Weights}
	}
	return c
}

func validateAliasName(name string) error {
	if !reAlias.MatchString(name) {
		return validationError(name, "name", "Member must satisfy regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)")
	}
	if reVersion.MatchString(name) {
		return validationError(name, "name", "Member must satisfy regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)")
	}
	return nil
}

// checkAliasTarget checks the version an alias points to and its routing weights.
func (s *Service) checkAliasTarget(rec *functionRecord, version string, routing *AliasRoutingConfiguration) error {
	if version != Latest {
		if !reVersion.MatchString(version) {
			return validationError(version, "functionVersion", `Member must satisfy regular expression pattern: (\$LATEST|[0-9]+)`)
		}
		n, _ := strconv.Atoi(version)
		if _, err := s.loadVersion(rec, n); err != nil {
			return err
		}
	}
	if routing == nil || len(routing.AdditionalVersionWeights) == 0 {
		return nil
	}
	if len(routing.AdditionalVersionWeights) > 1 {
		return errdefs.New(errdefs.ErrInvalidParameter, "An alias can route to at most one additional version; this RoutingConfig names %d.", len(routing.AdditionalVersionWeights))
	}
	if version == Latest {
		return errdefs.New(errdefs.ErrInvalidParameter, "$LATEST is not supported for an alias pointing to more than 1 version")
	}
	for v, w := range routing.AdditionalVersionWeights {
		if w < 0 || w > 1 {
			return validationError(fmt.Sprint(w), "routingConfig.additionalVersionWeights", "Member must have value between 0.0 and 1.0")
		}
		if !reVersion.MatchString(v) {
			return errdefs.New(errdefs.ErrValidation, "1 validation error detected: Value '{%s=%v}' at 'routingConfig.additionalVersionWeights' failed to satisfy constraint: Map keys must satisfy constraint: [Member must have length less than or equal to 1024, Member must have length greater than or equal to 1, Member must satisfy regular expression pattern: [0-9]+]", v, w)
		}
		if v == version {
			return errdefs.New(errdefs.ErrInvalidParameter, "Version %s is both the alias's primary version and its additional version; route to a different version.", v)
		}
		n, _ := strconv.Atoi(v)
		if _, err := s.loadVersion(rec, n); err != nil {
			return err
		}
	}
	return nil
}

// CreateAlias creates an alias for a version.
func (s *Service) CreateAlias(ctx context.Context, in *CreateAliasInput) (*AliasConfiguration, error) {
	ref, err := s.ParseFunctionRef("functionName", in.FunctionName)
	if err != nil {
		return nil, err
	}
	if err := validateAliasName(in.Name); err != nil {
		return nil, err
	}
	if in.FunctionVersion == "" {
		return nil, validationError("null", "functionVersion", "Member must not be null")
	}
	if err := validateDescription(in.Description); err != nil {
		return nil, err
	}
	rec, _, err := s.loadFunction(ref.Name)
	if err != nil {
		return nil, err
	}
	if err := s.checkAliasTarget(rec, in.FunctionVersion, in.RoutingConfig); err != nil {
		return nil, err
	}
	a := &aliasRecord{Name: in.Name, FunctionVersion: in.FunctionVersion, Description: in.Description, RevisionId: newID()}
	if in.RoutingConfig != nil && len(in.RoutingConfig.AdditionalVersionWeights) > 0 {
		a.Weights = in.RoutingConfig.AdditionalVersionWeights
	}
	b, _ := json.Marshal(a)
	if _, err := s.st.Aliases.Create(ctx, aliasKey(rec.Name, rec.Gen, in.Name), b); err != nil {
		if errors.Is(err, store.ErrExists) {
			return nil, errdefs.New(errdefs.ErrConflict, "Alias already exists: %s", s.QualifiedArn(rec.Name, in.Name))
		}
		return nil, storeError(err)
	}
	return s.renderAlias(rec.Name, a), nil
}

// GetAlias returns one alias.
func (s *Service) GetAlias(ctx context.Context, functionName, alias string) (*AliasConfiguration, error) {
	rec, err := s.aliasFunction(functionName, alias)
	if err != nil {
		return nil, err
	}
	a, err := s.loadAlias(rec, alias)
	if err != nil {
		return nil, err
	}
	return s.renderAlias(rec.Name, a), nil
}

func (s *Service) aliasFunction(functionName, alias string) (*functionRecord, error) {
	ref, err := s.ParseFunctionRef("functionName", functionName)
	if err != nil {
		return nil, err
	}
	if err := validateAliasName(alias); err != nil {
		return nil, err
	}
	rec, _, err := s.loadFunction(ref.Name)
	return rec, err
}

// UpdateAlias changes an alias's version, description or routing.
func (s *Service) UpdateAlias(ctx context.Context, in *UpdateAliasInput) (*AliasConfiguration, error) {
	rec, err := s.aliasFunction(in.FunctionName, in.Name)
	if err != nil {
		return nil, err
	}
	if in.Description != nil {
		if err := validateDescription(*in.Description); err != nil {
			return nil, err
		}
	}
	key := aliasKey(rec.Name, rec.Gen, in.Name)
	for attempt := 0; ; attempt++ {
		a, rev, err := s.loadAliasRev(rec, in.Name)
		if err != nil {
			return nil, err
		}
		if in.RevisionId != "" && in.RevisionId != a.RevisionId {
			return nil, revisionMismatch()
		}
		if in.FunctionVersion != nil {
			a.FunctionVersion = *in.FunctionVersion
		}
		if in.Description != nil {
			a.Description = *in.Description
		}
		if in.RoutingConfig != nil {
			a.Weights = in.RoutingConfig.AdditionalVersionWeights
			if len(a.Weights) == 0 {
				a.Weights = nil
			}
		}
		if err := s.checkAliasTarget(rec, a.FunctionVersion, &AliasRoutingConfiguration{AdditionalVersionWeights: a.Weights}); err != nil {
			return nil, err
		}
		if err := s.checkProvisionedMove(rec, in.Name, a.FunctionVersion); err != nil {
			return nil, err
		}
		a.RevisionId = newID()
		b, _ := json.Marshal(a)
		_, err = s.st.Aliases.Update(ctx, key, b, rev)
		if err == nil {
			return s.renderAlias(rec.Name, a), nil
		}
		if !errors.Is(err, store.ErrRevision) || attempt == maxAttempts {
			return nil, storeError(err)
		}
		if _, _, err := s.st.Aliases.Fresh(ctx, key); err != nil {
			return nil, storeError(err)
		}
	}
}

// DeleteAlias deletes an alias. Deleting one that does not exist succeeds, as on Lambda.
func (s *Service) DeleteAlias(ctx context.Context, functionName, alias string) error {
	rec, err := s.aliasFunction(functionName, alias)
	if err != nil {
		return err
	}
	if _, ok := s.st.Aliases.Get(aliasKey(rec.Name, rec.Gen, alias)); !ok {
		return nil
	}
	if err := s.st.Aliases.Delete(ctx, aliasKey(rec.Name, rec.Gen, alias), 0); err != nil {
		return storeError(err)
	}
	// Its provisioned concurrency and async config go with it (an unresolvable
	// config provisions nothing meanwhile, should this fail).
	errAsync := s.dropEventInvokeConfig(ctx, rec, alias)
	if err := s.dropProvisioned(ctx, rec, alias); err != nil {
		return err
	}
	return errAsync
}

func storeErrorOrNil(err error) error {
	if err == nil {
		return nil
	}
	return storeError(err)
}

// ListAliases lists a function's aliases by name, optionally only those that route to
// a version.
func (s *Service) ListAliases(ctx context.Context, functionName, functionVersion, marker string, maxItems int) (*ListAliasesOutput, error) {
	ref, err := s.ParseFunctionRef("functionName", functionName)
	if err != nil {
		return nil, err
	}
	rec, _, err := s.loadFunction(ref.Name)
	if err != nil {
		return nil, err
	}
	var all []*AliasConfiguration
	for _, a := range s.aliasesOf(rec) {
		if functionVersion != "" && a.FunctionVersion != functionVersion {
			if _, ok := a.Weights[functionVersion]; !ok {
				continue
			}
		}
		all = append(all, s.renderAlias(rec.Name, a))
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Name < all[j].Name })
	page, next, err := paginate(all, marker, maxItems, func(a *AliasConfiguration) string { return a.Name }, func(a, b string) bool { return a < b })
	if err != nil {
		return nil, err
	}
	if page == nil {
		page = []*AliasConfiguration{}
	}
	return &ListAliasesOutput{Aliases: page, NextMarker: next}, nil
}
