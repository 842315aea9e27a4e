package control

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/hearthfn/hearth/internal/errdefs"
)

func TestValidateRuntime(t *testing.T) {
	for _, rt := range []string{"python3.12", "nodejs20.x", "provided.al2023"} {
		if err := validateRuntime(rt); err != nil {
			t.Errorf("%s: %v", rt, err)
		}
	}
	cases := map[string]string{
		// Lambda's own answers (recorded 2026-01-12).
		"cobol1":    "Value cobol1 at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: [nodejs20.x, python3.14, provided.al2023, python3.12, python3.13, nodejs24.x, nodejs22.x, java25, python3.10, python3.11, java21, ruby3.3, ruby3.4, ruby3.2, python3.8, python3.9, java17, nodejs16.x, dotnet10, dotnet8, java11, dotnet6, nodejs18.x, provided.al2, java8.al2] or be a valid ARN",
		"PYTHON3.9": "Value PYTHON3.9 at 'runtime'",
		"python2.7": "The runtime parameter of python2.7 is no longer supported for creating or updating AWS Lambda functions. We recommend you use a supported runtime while creating or updating functions.",
		"provided":  "The runtime parameter of provided is no longer supported",
		// Lambda takes these; Hearth does not run them.
		"java21":     "The runtime parameter of java21 is not supported by Hearth.",
		"nodejs24.x": "The runtime parameter of nodejs24.x is not supported by Hearth.",
		"python3.8":  "The runtime parameter of python3.8 is not supported by Hearth.",
	}
	for rt, msg := range cases {
		err := validateRuntime(rt)
		if !errors.Is(err, errdefs.ErrInvalidParameter) || !strings.HasPrefix(errdefs.Message(err), msg) {
			t.Errorf("%s: got %v, want InvalidParameterValueException %q", rt, err, msg)
		}
	}
}

func TestValidateArchitectures(t *testing.T) {
	for in, want := range map[string]string{
		"x86_64,arm64": "1 validation error detected: Value '[x86_64, arm64]' at 'architectures' failed to satisfy constraint: Member must have length less than or equal to 1",
		"X86_64":       "1 validation error detected: Value '[X86_64]' at 'architectures' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64], Member must not be null]",
		"":             "1 validation error detected: Value '[]' at 'architectures' failed to satisfy constraint: Member must have length greater than or equal to 1",
	} {
		a := []string{}
		if in != "" {
			a = strings.Split(in, ",")
		}
		var errs modelErrors
		checkArchitectures(&errs, a)
		if err := errs.err(); errdefs.Message(err) != want {
			t.Errorf("%q: got %v, want %q", in, err, want)
		}
	}
	var errs modelErrors
	if checkArchitectures(&errs, []string{"arm64"}); errs.err() != nil {
		t.Error(errs.err())
	}
}

func TestModelErrors(t *testing.T) {
	var errs modelErrors
	if errs.err() != nil {
		t.Fatal("no violations, an error")
	}
	errs.add("a", "x", "C1")
	errs.addNull("role")
	errs.addSensitive("environment.variables", "C3")
	want := "3 validation errors detected: Value 'a' at 'x' failed to satisfy constraint: C1; Value null at 'role' failed to satisfy constraint: Member must not be null; Value at 'environment.variables' failed to satisfy constraint: C3"
	if err := errs.err(); !errors.Is(err, errdefs.ErrValidation) || errdefs.Message(err) != want {
		t.Fatalf("got %v", err)
	}
}

func TestCheckMemory(t *testing.T) {
	n := 10241
	err := checkMemory(&n)
	if !errors.Is(err, errdefs.ErrInvalidParameter) || errdefs.Message(err) != "'MemorySize' value failed to satisfy constraint: Member must have value less than or equal to 10240" {
		t.Fatalf("got %v", err)
	}
	n = 10240
	if err := checkMemory(&n); err != nil {
		t.Fatal(err)
	}
}

func TestValidateHandler(t *testing.T) {
	ok := map[string][]string{
		"python3.12":      {"lambda_function.lambda_handler", "src/app.handler", "pkg.mod.handler"},
		"nodejs20.x":      {"index.handler", "src/index.handler", "dist/app.main"},
		"provided.al2023": {"bootstrap", "anything.goes"},
	}
	for rt, hs := range ok {
		for _, h := range hs {
			if err := validateHandler(rt, h); err != nil {
				t.Errorf("%s %q: %v", rt, h, err)
			}
		}
	}
	bad := map[string][]string{
		"python3.12":      {"", "nohandler", "mod.", ".handler", "mod.1bad", "a b.c"},
		"nodejs20.x":      {"index", "index.", "a b.c"},
		"provided.al2023": {"", "has space", strings.Repeat("x", 129)},
	}
	for rt, hs := range bad {
		for _, h := range hs {
			if err := validateHandler(rt, h); err == nil {
				t.Errorf("%s %q: accepted", rt, h)
			}
		}
	}
}

func TestValidateEnvironment(t *testing.T) {
	env := func(js string) *Environment {
		var e Environment
		if err := json.Unmarshal([]byte(js), &e); err != nil {
			t.Fatal(err)
		}
		return &e
	}
	if err := validateEnvironment(env(`{"Variables":{"FOO":"bar","A_1":""}}`)); err != nil {
		t.Fatal(err)
	}
	if err := validateEnvironment(env(`{"Variables":{"AWS_REGION":"x"}}`)); !errors.Is(err, errdefs.ErrInvalidParameter) || !strings.Contains(err.Error(), "AWS_REGION") {
		t.Fatalf("reserved key: %v", err)
	}
	err := validateEnvironment(env(`{"Variables":{"1BAD":"x"}}`))
	if !errors.Is(err, errdefs.ErrValidation) || errdefs.Message(err) != "1 validation error detected: Value at 'environment.variables' failed to satisfy constraint: Map keys must satisfy constraint: [Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+]" {
		t.Fatalf("bad key: %v", err)
	}
	// Lambda quotes the variables it measured, in the request's order (recorded
	// 2025-11-25): 4097 bytes fail, 4096 pass.
	big := strings.Repeat("x", 4064)
	err = validateEnvironment(env(`{"Variables":{"SMALL_VAR":"ok","LARGE_VAR":"` + big + `"}}`))
	want := `Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: {"SMALL_VAR":"ok","LARGE_VAR":"` + big + `"}`
	if !errors.Is(err, errdefs.ErrInvalidParameter) || errdefs.Message(err) != want {
		t.Fatalf("4 KB: %v", err)
	}
	if err := validateEnvironment(env(`{"Variables":{"SMALL_VAR":"ok","LARGE_VAR":"` + big[1:] + `"}}`)); err != nil {
		t.Fatalf("4096 bytes: %v", err)
	}
}

func TestValidateRanges(t *testing.T) {
	cases := []struct {
		v, lo, hi int
		ok        bool
	}{
		{128, MinMemoryMB, MaxMemoryMB, true}, {127, MinMemoryMB, MaxMemoryMB, false}, {10241, MinMemoryMB, MaxMemoryMB, false},
		{900, MinTimeoutSeconds, MaxTimeoutSeconds, true}, {0, MinTimeoutSeconds, MaxTimeoutSeconds, false}, {901, MinTimeoutSeconds, MaxTimeoutSeconds, false},
		{512, MinEphemeralMB, MaxEphemeralMB, true}, {511, MinEphemeralMB, MaxEphemeralMB, false}, {10241, MinEphemeralMB, MaxEphemeralMB, false},
	}
	for _, c := range cases {
		err := validateRange(c.v, "x", c.lo, c.hi)
		if (err == nil) != c.ok {
			t.Errorf("%d in [%d,%d]: %v", c.v, c.lo, c.hi, err)
		}
		if err != nil && !errors.Is(err, errdefs.ErrValidation) {
			t.Errorf("%d: kind %v", c.v, err)
		}
	}
}

func TestValidateTagsAndRole(t *testing.T) {
	if err := validateTags(map[string]string{"aws:x": "y"}); err == nil {
		t.Error("aws: prefix accepted")
	}
	many := map[string]string{}
	for i := 0; i < 51; i++ {
		many[strings.Repeat("k", i+1)] = "v"
	}
	if err := validateTags(many); err == nil {
		t.Error("51 tags accepted")
	}
	role := func(r string) error {
		var errs modelErrors
		(&functionFields{Role: &r}).checkModel(&errs)
		return errs.err()
	}
	if err := role("arn:aws:iam::123456789012:role/service-role/x"); err != nil {
		t.Error(err)
	}
	if err := role("not-a-role"); !errors.Is(err, errdefs.ErrValidation) {
		t.Errorf("bad role: %v", err)
	}
}

func TestRefuseUnsupported(t *testing.T) {
	u := unsupported{VpcConfig: []byte(`{"SubnetIds":[],"SecurityGroupIds":[]}`), SnapStart: []byte(`{"ApplyOn":"None"}`)}
	if err := u.refuse(); err != nil {
		t.Fatalf("empty VPC / SnapStart None refused: %v", err)
	}
	u = unsupported{Layers: []byte(`["arn:aws:lambda:us-east-1:000000000000:layer:x:1"]`)}
	if err := u.refuse(); !errors.Is(err, errdefs.ErrInvalidParameter) || !strings.Contains(err.Error(), "Layers") {
		t.Fatalf("layers: %v", err)
	}
}

func TestPaginate(t *testing.T) {
	items := []string{"$LATEST", "1", "2", "10", "11"}
	id := func(s string) string { return s }
	page, next, err := paginate(items, "", 2, id, lessKey)
	if err != nil || len(page) != 2 || next == "" {
		t.Fatalf("page 1: %v %q %v", page, next, err)
	}
	page, next, _ = paginate(items, next, 2, id, lessKey)
	if strings.Join(page, ",") != "2,10" {
		t.Fatalf("page 2: %v", page)
	}
	page, next, _ = paginate(items, next, 2, id, lessKey)
	if strings.Join(page, ",") != "11" || next != "" {
		t.Fatalf("page 3: %v %q", page, next)
	}
	if _, _, err := paginate(items, "!!!", 2, id, lessKey); !errors.Is(err, errdefs.ErrInvalidParameter) {
		t.Fatalf("bad marker: %v", err)
	}
}
