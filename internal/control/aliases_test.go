package control

import (
	"context"
	"strings"
	"testing"

	"github.com/hearthfn/hearth/internal/errdefs"
)

const testFnArn = "arn:aws:lambda:us-east-1:000000000000:function:"

// publishSecond gives f (newTestService's) a version 2.
func publishSecond(t *testing.T, s *Service) {
	t.Helper()
	ctx := context.Background()
	if _, err := s.UpdateFunctionConfiguration(ctx, &UpdateFunctionConfigurationInput{FunctionName: "f", Description: ptr("two")}); err != nil {
		t.Fatal(err)
	}
	if v, err := s.PublishVersion(ctx, &PublishVersionInput{FunctionName: "f"}); err != nil || v.Version != "2" {
		t.Fatalf("publish: %v", err)
	}
}

// Messages and order as AWS answered them (LocalStack's validated snapshots of
// test_notfound_and_invalid_routingconfigs and test_alias_naming).
func TestCreateAliasErrors(t *testing.T) {
	s := newTestService(t)
	publishSecond(t, s)
	ctx := context.Background()
	create := func(fn, name, version string, weights map[string]float64) error {
		in := &CreateAliasInput{FunctionName: fn, Name: name, FunctionVersion: version}
		if weights != nil {
			in.RoutingConfig = &AliasRoutingConfiguration{AdditionalVersionWeights: weights}
		}
		_, err := s.CreateAlias(ctx, in)
		return err
	}
	const valc = "Map value must satisfy constraint: [Member must have value less than or equal to 1.0, Member must have value greater than or equal to 0.0, Member must not be null]"
	for _, c := range []struct {
		what          string
		fn, name, ver string
		weights       map[string]float64
		kind          *errdefs.Kind
		msg           string
	}{
		{"too many", "f", "custom", "1", map[string]float64{"1": 0.8, "2": 0.2}, errdefs.ErrInvalidParameter, "Number of items in AdditionalVersionWeights cannot be greater than 1"},
		{"weight 2", "f", "custom", "1", map[string]float64{"2": 2}, errdefs.ErrValidation, "1 validation error detected: Value '{2=2.0}' at 'routingConfig.additionalVersionWeights' failed to satisfy constraint: " + valc},
		{"weight -1", "f", "custom", "1", map[string]float64{"2": -1}, errdefs.ErrValidation, "1 validation error detected: Value '{2=-1.0}' at 'routingConfig.additionalVersionWeights' failed to satisfy constraint: " + valc},
		{"same version", "f", "custom", "1", map[string]float64{"1": 0.5}, errdefs.ErrInvalidParameter, "Invalid function version 1. Function version 1 is already included in routing configuration."},
		{"version 10", "f", "custom", "10", map[string]float64{"2": 0.5}, errdefs.ErrNotFound, "Function not found: " + testFnArn + "f:10"},
		{"routing 10", "f", "custom", "1", map[string]float64{"10": 0.5}, errdefs.ErrNotFound, "Function not found: " + testFnArn + "f:10"},
		{"latest routed", "f", "custom", "$LATEST", map[string]float64{"1": 0.5}, errdefs.ErrInvalidParameter, "$LATEST is not supported for an alias pointing to more than 1 version"},
		{"latest key", "f", "custom", "1", map[string]float64{"$LATEST": 0.5}, errdefs.ErrValidation, "1 validation error detected: Value '{$LATEST=0.5}' at 'routingConfig.additionalVersionWeights' failed to satisfy constraint: Map keys must satisfy constraint: [Member must have length less than or equal to 1024, Member must have length greater than or equal to 1, Member must satisfy regular expression pattern: [0-9]+]"},
		{"no function", "f-unknown", "custom", "1", map[string]float64{"2": 0.5}, errdefs.ErrNotFound, "Function not found: " + testFnArn + "f-unknown:1"},
		{"exists", "f", "live", "1", nil, errdefs.ErrConflict, "Alias already exists: " + testFnArn + "f:live"},
		{"number", "f", "2024", "1", nil, errdefs.ErrValidation, "1 validation error detected: Value '2024' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)"},
		{"long number", "f", "123456789012", "1", nil, errdefs.ErrValidation, "*"},
		{"too long", "f", strings.Repeat("a", 129), "1", nil, errdefs.ErrValidation, "1 validation error detected: Value '" + strings.Repeat("a", 129) + "' at 'name' failed to satisfy constraint: Member must have length less than or equal to 128"},
		{"no version, no name", "f", "", "", nil, errdefs.ErrValidation, "2 validation errors detected: Value null at 'functionVersion' failed to satisfy constraint: Member must not be null; Value null at 'name' failed to satisfy constraint: Member must not be null"},
		{"bad version", "f", "custom", "one", nil, errdefs.ErrValidation, `1 validation error detected: Value 'one' at 'functionVersion' failed to satisfy constraint: Member must satisfy regular expression pattern: (\$LATEST(\.PUBLISHED)?|[0-9]+)`},
	} {
		wantErr(t, c.what, create(c.fn, c.name, c.ver, c.weights), c.kind, c.msg)
	}
	// A date is a name; an empty routing config is none.
	if err := create("f", "2024-01-02", "1", map[string]float64{}); err != nil {
		t.Fatal(err)
	}
	if err := create("f", "split", "1", map[string]float64{"2": 0.5}); err != nil {
		t.Fatal(err)
	}
}

func TestAliasNotFoundWording(t *testing.T) {
	s := newTestService(t)
	ctx := context.Background()
	_, err := s.GetAlias(ctx, "f", "non-existent")
	wantErr(t, "GetAlias", err, errdefs.ErrNotFound, "Cannot find alias arn: "+testFnArn+"f:non-existent")
	_, err = s.UpdateAlias(ctx, &UpdateAliasInput{FunctionName: "f", Name: "non-existent"})
	wantErr(t, "UpdateAlias", err, errdefs.ErrNotFound, "Alias not found: "+testFnArn+"f:non-existent")
	_, _, err = s.GetFunction(ctx, "f", "aliasdoesnotexist")
	wantErr(t, "GetFunction", err, errdefs.ErrNotFound, "Function not found: "+testFnArn+"f:aliasdoesnotexist")
	_, err = s.UpdateAlias(ctx, &UpdateAliasInput{FunctionName: "f", Name: "live", RevisionId: "wrong"})
	wantErr(t, "UpdateAlias revision", err, errdefs.ErrPreconditionFailed, "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id")
	_, err = s.UpdateAlias(ctx, &UpdateAliasInput{FunctionName: "f", Name: "live", FunctionVersion: ptr("7")})
	wantErr(t, "UpdateAlias version 7", err, errdefs.ErrNotFound, "Function not found: "+testFnArn+"f:7")
	if err := s.DeleteAlias(ctx, "f", "non-existent"); err != nil {
		t.Errorf("DeleteAlias of no alias: %v", err)
	}
	_, err = s.ListAliases(ctx, "f", "one", "", 0)
	wantErr(t, "ListAliases version", err, errdefs.ErrValidation, "*")
}

func TestJavaDouble(t *testing.T) {
	for f, want := range map[float64]string{2: "2.0", -1: "-1.0", 0.5: "0.5", 0: "0.0", 1e-4: "1.0E-4", 1.5e7: "1.5E7", 1234.5: "1234.5"} {
		if got := javaDouble(f); got != want {
			t.Errorf("javaDouble(%v) = %q, want %q", f, got, want)
		}
	}
}
