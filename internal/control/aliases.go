package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/hearthfn/hearth/internal/errdefs"
	"github.com/hearthfn/hearth/internal/store"
)

// loadAlias reads one of rec's aliases. A missing alias is ResourceNotFoundException
// "Function not found: <alias ARN>", as Lambda answers when a qualifier names no alias
// (GetFunction, Invoke); the alias operations word it their own way.
func (s *Service) loadAlias(rec *functionRecord, alias string) (*aliasRecord, error) {
	a, _, err := s.loadAliasRev(rec, alias)
	return a, err
}

func (s *Service) loadAliasRev(rec *functionRecord, alias string) (*aliasRecord, uint64, error) {
	e, ok := s.st.Aliases.Get(aliasKey(rec.Name, rec.Gen, alias))
	if !ok {
		return nil, 0, errdefs.New(errdefs.ErrNotFound, "Function not found: %s", s.QualifiedArn(rec.Name, alias))
	}
	var a aliasRecord
	if err := json.Unmarshal(e.Value, &a); err != nil {
		return nil, 0, fmt.Errorf("%w: corrupt alias record: %v", errdefs.ErrService, err)
	}
	return &a, e.Revision, nil
}

// rewordNotFound replaces a not-found error's message; other errors pass unchanged.
func rewordNotFound(err error, format string, args ...any) error {
	if errors.Is(err, errdefs.ErrNotFound) {
		return errdefs.New(errdefs.ErrNotFound, format, args...)
	}
	return err
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

// The model's constraints on alias members (Alias, VersionWithLatestPublished,
// AdditionalVersion, Weight), quoted in its messages as AWS quotes them. Go's regexp
// has no look-ahead, so the alias rule "not all digits" is a second expression.
const (
	aliasPattern         = `(?!^[0-9]+$)([a-zA-Z0-9-_]+)`
	aliasVersionPattern  = `(\$LATEST(\.PUBLISHED)?|[0-9]+)`
	maxAliasName         = 128
	maxAliasVersion      = 1024
	routingWeightsField  = "routingConfig.additionalVersionWeights"
	routingKeyConstraint = "Map keys must satisfy constraint: [Member must have length less than or equal to 1024, Member must have length greater than or equal to 1, Member must satisfy regular expression pattern: [0-9]+]"
	routingValConstraint = "Map value must satisfy constraint: [Member must have value less than or equal to 1.0, Member must have value greater than or equal to 0.0, Member must not be null]"
	maxRoutingWeights    = 1
)

var (
	reAliasChars   = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)
	reAliasVersion = regexp.MustCompile(`^(\$LATEST(\.PUBLISHED)?|[0-9]+)$`)
)

// checkAliasName adds the violations of an alias name (the Alias shape) at field.
// Every constraint the name breaks is reported, the pattern first (as for function
// names, whose recorded answers list both).
func checkAliasName(errs *modelErrors, field, name string) {
	if name == "" {
		errs.add(name, field, "Member must have length greater than or equal to 1")
		return
	}
	if !reAliasChars.MatchString(name) || reDigits.MatchString(name) {
		errs.add(name, field, "Member must satisfy regular expression pattern: "+aliasPattern)
	}
	if javaLength(name) > maxAliasName {
		errs.add(name, field, fmt.Sprintf("Member must have length less than or equal to %d", maxAliasName))
	}
}

// checkAliasVersion adds the violations of the version an alias points to
// (VersionWithLatestPublished) at field.
func checkAliasVersion(errs *modelErrors, field, version string) {
	if version == "" {
		errs.add(version, field, "Member must have length greater than or equal to 1")
		return
	}
	if !reAliasVersion.MatchString(version) {
		errs.add(version, field, "Member must satisfy regular expression pattern: "+aliasVersionPattern)
	}
	if len(version) > maxAliasVersion {
		errs.add(version, field, fmt.Sprintf("Member must have length less than or equal to %d", maxAliasVersion))
	}
}

// checkRoutingWeights adds the violations of AdditionalVersionWeights; AWS quotes the
// whole map, as Java prints it ({2=0.5}), once for its keys and once for its values.
func checkRoutingWeights(errs *modelErrors, rc *AliasRoutingConfiguration) {
	if rc == nil || len(rc.AdditionalVersionWeights) == 0 {
		return
	}
	w := rc.AdditionalVersionWeights
	badKey, badValue := false, false
	for k, x := range w {
		if len(k) > maxAliasVersion || !reDigits.MatchString(k) {
			badKey = true
		}
		if x < 0 || x > 1 {
			badValue = true
		}
	}
	if badKey {
		errs.add(javaMap(w), routingWeightsField, routingKeyConstraint)
	}
	if badValue {
		errs.add(javaMap(w), routingWeightsField, routingValConstraint)
	}
}

// javaMap renders weights as Java's AbstractMap.toString does ({2=0.5}). With more
// than one key Java's HashMap order is not sorted order, but AWS takes at most one
// additional version, so only an over-long map (already an error) has two.
func javaMap(w map[string]float64) string {
	keys := make([]string, 0, len(w))
	for k := range w {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + javaDouble(w[k])
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// javaDouble renders f as Java's Double.toString: 2.0, 0.5, -1.0, 1.0E-4, 1.0E7.
func javaDouble(f float64) string {
	a := math.Abs(f)
	if a == 0 || (a >= 1e-3 && a < 1e7) {
		s := strconv.FormatFloat(f, 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	}
	mant, exp, _ := strings.Cut(strconv.FormatFloat(f, 'E', -1, 64), "E")
	if !strings.Contains(mant, ".") {
		mant += ".0"
	}
	neg := strings.HasPrefix(exp, "-")
	exp = strings.TrimLeft(exp, "+-0")
	if neg {
		exp = "-" + exp
	}
	return mant + "E" + exp
}

// versionExists checks that version names $LATEST or a published version of rec;
// Lambda names the version it did not find as given.
func (s *Service) versionExists(rec *functionRecord, version string) error {
	if version == Latest {
		return nil
	}
	if reVersion.MatchString(version) {
		n, _ := strconv.Atoi(version)
		_, err := s.loadVersion(rec, n)
		if !errors.Is(err, errdefs.ErrNotFound) {
			return err
		}
	}
	return errdefs.New(errdefs.ErrNotFound, "Function not found: %s", s.QualifiedArn(rec.Name, version))
}

// checkRouting checks an alias's additional version, in the order Lambda does: one at
// most, not the primary version, not beside $LATEST, and published.
func (s *Service) checkRouting(rec *functionRecord, version string, weights map[string]float64) error {
	if len(weights) == 0 {
		return nil
	}
	if len(weights) > maxRoutingWeights {
		return errdefs.New(errdefs.ErrInvalidParameter, "Number of items in AdditionalVersionWeights cannot be greater than %d", maxRoutingWeights)
	}
	for v := range weights {
		if v == version {
			return errdefs.New(errdefs.ErrInvalidParameter, "Invalid function version %s. Function version %s is already included in routing configuration.", v, v)
		}
		if version == Latest {
			return errdefs.New(errdefs.ErrInvalidParameter, "$LATEST is not supported for an alias pointing to more than 1 version")
		}
		if err := s.versionExists(rec, v); err != nil {
			return err
		}
	}
	return nil
}

// parseFunctionWith parses a FunctionName member together with the request's other
// members, whose violations check adds: AWS reports every violation of the model in
// one ValidationException, the function name's first.
func (s *Service) parseFunctionWith(functionName string, check func(errs *modelErrors)) (FunctionRef, error) {
	var errs modelErrors
	ref, err := s.parseRef(shapeFunctionName, "functionName", functionName, &errs)
	if check != nil {
		check(&errs)
	}
	if e := errs.err(); e != nil {
		return FunctionRef{}, e
	}
	return ref, err
}

// CreateAlias creates an alias for a version. Lambda checks the request against the
// model first, then looks up the version (so a missing function reads as a missing
// version), then the name, then the routing.
func (s *Service) CreateAlias(ctx context.Context, in *CreateAliasInput) (*AliasConfiguration, error) {
	ref, err := s.parseFunctionWith(in.FunctionName, func(errs *modelErrors) {
		checkMaxLength(errs, in.Description, "description", MaxDescription)
		if in.FunctionVersion == "" {
			errs.addNull("functionVersion")
		} else {
			checkAliasVersion(errs, "functionVersion", in.FunctionVersion)
		}
		if in.Name == "" {
			errs.addNull("name")
		} else {
			checkAliasName(errs, "name", in.Name)
		}
		checkRoutingWeights(errs, in.RoutingConfig)
	})
	if err != nil {
		return nil, err
	}
	rec, _, err := s.loadFunction(ref.Name)
	if err != nil {
		return nil, rewordNotFound(err, "Function not found: %s", s.QualifiedArn(ref.Name, in.FunctionVersion))
	}
	if err := s.versionExists(rec, in.FunctionVersion); err != nil {
		return nil, err
	}
	key := aliasKey(rec.Name, rec.Gen, in.Name)
	exists := errdefs.New(errdefs.ErrConflict, "Alias already exists: %s", s.QualifiedArn(rec.Name, in.Name))
	if _, ok := s.st.Aliases.Get(key); ok {
		return nil, exists
	}
	var weights map[string]float64
	if in.RoutingConfig != nil && len(in.RoutingConfig.AdditionalVersionWeights) > 0 {
		weights = in.RoutingConfig.AdditionalVersionWeights
	}
	if err := s.checkRouting(rec, in.FunctionVersion, weights); err != nil {
		return nil, err
	}
	a := &aliasRecord{Name: in.Name, FunctionVersion: in.FunctionVersion, Description: in.Description, RevisionId: newID(), Weights: weights}
	b, _ := json.Marshal(a)
	if _, err := s.st.Aliases.Create(ctx, key, b); err != nil {
		if errors.Is(err, store.ErrExists) {
			return nil, exists
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
		return nil, rewordNotFound(err, "Cannot find alias arn: %s", s.QualifiedArn(rec.Name, alias))
	}
	return s.renderAlias(rec.Name, a), nil
}

func (s *Service) aliasFunction(functionName, alias string) (*functionRecord, error) {
	ref, err := s.parseFunctionWith(functionName, func(errs *modelErrors) {
		checkAliasName(errs, "name", alias)
	})
	if err != nil {
		return nil, err
	}
	rec, _, err := s.loadFunction(ref.Name)
	return rec, err
}

// UpdateAlias changes an alias's version, description or routing.
func (s *Service) UpdateAlias(ctx context.Context, in *UpdateAliasInput) (*AliasConfiguration, error) {
	ref, err := s.parseFunctionWith(in.FunctionName, func(errs *modelErrors) {
		if in.Description != nil {
			checkMaxLength(errs, *in.Description, "description", MaxDescription)
		}
		if in.FunctionVersion != nil {
			checkAliasVersion(errs, "functionVersion", *in.FunctionVersion)
		}
		checkAliasName(errs, "name", in.Name)
		checkRoutingWeights(errs, in.RoutingConfig)
	})
	if err != nil {
		return nil, err
	}
	rec, _, err := s.loadFunction(ref.Name)
	if err != nil {
		return nil, err
	}
	key := aliasKey(rec.Name, rec.Gen, in.Name)
	for attempt := 0; ; attempt++ {
		a, rev, err := s.loadAliasRev(rec, in.Name)
		if err != nil {
			return nil, rewordNotFound(err, "Alias not found: %s", s.QualifiedArn(rec.Name, in.Name))
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
		if err := s.versionExists(rec, a.FunctionVersion); err != nil {
			return nil, err
		}
		if err := s.checkRouting(rec, a.FunctionVersion, a.Weights); err != nil {
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

// ListAliases lists a function's aliases by name, optionally only those that route to
// a version.
func (s *Service) ListAliases(ctx context.Context, functionName, functionVersion, marker string, maxItems int) (*ListAliasesOutput, error) {
	ref, err := s.parseFunctionWith(functionName, func(errs *modelErrors) {
		if functionVersion != "" {
			checkAliasVersion(errs, "functionVersion", functionVersion)
		}
	})
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
