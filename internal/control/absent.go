package control

import (
	"context"
	"regexp"

	"github.com/hearthfn/hearth/internal/errdefs"
)

// Code signing configs, function URLs and resource-based policies do not exist in
// Hearth yet: the operations that create them answer 501. The operations that read
// them answer what AWS answers for a function that has none, after the same
// validation in the same order, because tools read them whether or not anything was
// ever set (Terraform reads GetFunctionCodeSigningConfig on every refresh of a
// function, and fails on a 501).

// FunctionCodeSigningConfig is GetFunctionCodeSigningConfig's answer.
type FunctionCodeSigningConfig struct {
	CodeSigningConfigArn string `json:"CodeSigningConfigArn"`
	FunctionName         string `json:"FunctionName"`
}

// GetFunctionCodeSigningConfig answers, for an existing function, that it has no
// code signing config: AWS's 200 with an empty CodeSigningConfigArn.
func (s *Service) GetFunctionCodeSigningConfig(ctx context.Context, functionName string) (*FunctionCodeSigningConfig, error) {
	ref, err := s.ParseNamespacedFunctionRef("functionName", functionName)
	if err != nil {
		return nil, err
	}
	if _, _, err := s.loadFunction(ref.Name); err != nil {
		return nil, err
	}
	return &FunctionCodeSigningConfig{FunctionName: ref.Name}, nil
}

// A function URL's qualifier is an alias: never $LATEST, never a version number.
const urlQualifierPattern = `((?!^\d+$)^[0-9a-zA-Z-_]+$)`

var (
	reURLQualifier = regexp.MustCompile(`^[0-9a-zA-Z_-]+$`)
	urlQualifier   = qualifierShape{urlQualifierPattern, func(q string) bool {
		return reURLQualifier.MatchString(q) && !reDigits.MatchString(q)
	}}
)

// errNoResource is AWS's answer for a URL config or policy that does not exist, and
// also (for these operations) for a function that does not.
func errNoResource() error {
	return errdefs.New(errdefs.ErrNotFound, "The resource you requested does not exist.")
}

// FunctionURLConfigAbsent answers GetFunctionUrlConfig and DeleteFunctionUrlConfig:
// the name and qualifier are checked as AWS checks them, and then there is no URL
// config to get or delete, whether or not the function exists.
func (s *Service) FunctionURLConfigAbsent(ctx context.Context, functionName, qualifier string) error {
	var errs modelErrors
	ref, err := s.parseRef(shapeFunctionName, "functionName", functionName, &errs)
	urlQualifier.check(&errs, qualifier)
	if err := errs.err(); err != nil {
		return err
	}
	if err != nil {
		return err
	}
	if _, err := mergeQualifiers(ref, qualifier); err != nil {
		return err
	}
	return errNoResource()
}

// FunctionURLConfigList is ListFunctionUrlConfigs' answer.
type FunctionURLConfigList struct {
	FunctionUrlConfigs []struct{} `json:"FunctionUrlConfigs"`
}

// ListFunctionURLConfigs lists a function's URL configs: none.
func (s *Service) ListFunctionURLConfigs(ctx context.Context, functionName string, maxItems int, maxItemsGiven bool) (*FunctionURLConfigList, error) {
	var errs modelErrors
	ref, err := s.parseRef(shapeFunctionName, "functionName", functionName, &errs)
	if maxItemsGiven {
		checkRange(&errs, maxItems, "maxItems", 1, 50)
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	if _, _, err := s.loadFunction(ref.Name); err != nil {
		if errdefs.KindOf(err) == errdefs.ErrNotFound {
			return nil, errdefs.New(errdefs.ErrNotFound, "Function does not exist")
		}
		return nil, err
	}
	return &FunctionURLConfigList{FunctionUrlConfigs: []struct{}{}}, nil
}

// PolicyAbsent answers GetPolicy: after the checks of a name and qualifier, there is
// no resource-based policy, whether or not the function or version exists.
func (s *Service) PolicyAbsent(ctx context.Context, functionName, qualifier string) error {
	if _, _, err := s.parseQualified(functionName, qualifier); err != nil {
		return err
	}
	return errNoResource()
}
