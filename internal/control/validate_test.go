package control

import (
	"errors"
	"strings"
	"testing"

	"github.com/hearthfn/hearth/internal/errdefs"
)

func TestValidateRuntime(t *testing.T) {
	for _, rt := range []string{"python3.12", "nodejs20.x", "provided.al2023", "provided"} {
		if err := validateRuntime(rt); err != nil {
			t.Errorf("%s: %v", rt, err)
		}
	}
	cases := map[string]*errdefs.Kind{
		"cobol1":     errdefs.ErrValidation,
		"python2.7":  errdefs.ErrInvalidParameter,
		"java21":     errdefs.ErrInvalidParameter,
		"nodejs24.x": errdefs.ErrInvalidParameter,
	}
	for rt, kind := range cases {
		if err := validateRuntime(rt); !errors.Is(err, kind) {
			t.Errorf("%s: got %v, want %s", rt, err, kind.Type)
		}
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
	if err := validateEnvironment(map[string]string{"FOO": "bar", "A_1": ""}); err != nil {
		t.Fatal(err)
	}
	if err := validateEnvironment(map[string]string{"AWS_REGION": "x"}); !errors.Is(err, errdefs.ErrInvalidParameter) || !strings.Contains(err.Error(), "AWS_REGION") {
		t.Fatalf("reserved key: %v", err)
	}
	if err := validateEnvironment(map[string]string{"1BAD": "x"}); !errors.Is(err, errdefs.ErrValidation) {
		t.Fatalf("bad key: %v", err)
	}
	big := map[string]string{"BIG": strings.Repeat("x", 4090)}
	if err := validateEnvironment(big); !errors.Is(err, errdefs.ErrInvalidParameter) || !strings.Contains(err.Error(), "4KB") {
		t.Fatalf("4 KB: %v", err)
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
	if err := validateRole("arn:aws:iam::123456789012:role/service-role/x"); err != nil {
		t.Error(err)
	}
	if err := validateRole("not-a-role"); !errors.Is(err, errdefs.ErrValidation) {
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
