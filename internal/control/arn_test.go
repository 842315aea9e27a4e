package control

import (
	"errors"
	"testing"

	"github.com/hearthfn/hearth/internal/errdefs"
)

func TestParseFunctionRef(t *testing.T) {
	s := &Service{region: "us-east-1", account: "000000000000"}
	good := []struct {
		in         string
		name, qual string
	}{
		{"my-function", "my-function", ""},
		{"my_function:1", "my_function", "1"},
		{"my-function:$LATEST", "my-function", "$LATEST"},
		{"my-function:live", "my-function", "live"},
		{"000000000000:function:f", "f", ""},
		{"000000000000:function:f:prod", "f", "prod"},
		{"arn:aws:lambda:us-east-1:000000000000:function:f", "f", ""},
		{"arn:aws:lambda:us-east-1:000000000000:function:f:7", "f", "7"},
	}
	for _, c := range good {
		ref, err := s.ParseFunctionRef("functionName", c.in)
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if ref.Name != c.name || ref.Qualifier != c.qual {
			t.Errorf("%q: got %+v, want %s / %s", c.in, ref, c.name, c.qual)
		}
	}
	bad := []struct {
		in   string
		kind *errdefs.Kind
	}{
		{"", errdefs.ErrValidation},
		{"bad name", errdefs.ErrValidation},
		{"a/b", errdefs.ErrValidation},
		{"f:", errdefs.ErrValidation},
		{"f:a b", errdefs.ErrValidation},
		{"a:b:c", errdefs.ErrValidation},
		{string(make([]byte, 65)), errdefs.ErrValidation},
		{"arn:aws:lambda:eu-west-1:000000000000:function:f", errdefs.ErrInvalidParameter},
		{"arn:aws:lambda:us-east-1:111111111111:function:f", errdefs.ErrInvalidParameter},
		{"arn:aws:s3:us-east-1:000000000000:function:f", errdefs.ErrInvalidParameter},
		{"arn:aws:lambda:us-east-1:000000000000:layer:f", errdefs.ErrInvalidParameter},
		{"111111111111:function:f", errdefs.ErrInvalidParameter},
	}
	for _, c := range bad {
		_, err := s.ParseFunctionRef("functionName", c.in)
		if !errors.Is(err, c.kind) {
			t.Errorf("%q: got %v, want %s", c.in, err, c.kind.Type)
		}
	}
}

func TestResolveQualifier(t *testing.T) {
	if q, err := resolveQualifier(FunctionRef{Name: "f", Qualifier: "1"}, ""); err != nil || q != "1" {
		t.Fatalf("got %q %v", q, err)
	}
	if q, err := resolveQualifier(FunctionRef{Name: "f"}, "live"); err != nil || q != "live" {
		t.Fatalf("got %q %v", q, err)
	}
	if _, err := resolveQualifier(FunctionRef{Name: "f", Qualifier: "1"}, "2"); !errors.Is(err, errdefs.ErrInvalidParameter) {
		t.Fatalf("mismatched qualifiers: got %v", err)
	}
}

func FuzzParseFunctionRef(f *testing.F) {
	for _, s := range []string{"f", "f:1", "000000000000:function:f:live", "arn:aws:lambda:us-east-1:000000000000:function:f:$LATEST", "arn::::::", ":::"} {
		f.Add(s)
	}
	s := &Service{region: "us-east-1", account: "000000000000"}
	f.Fuzz(func(t *testing.T, in string) {
		ref, err := s.ParseFunctionRef("functionName", in)
		if err != nil {
			if errdefs.KindOf(err) == errdefs.ErrService {
				t.Fatalf("%q: unclassified error %v", in, err)
			}
			return
		}
		if !reFunctionName.MatchString(ref.Name) {
			t.Fatalf("%q: accepted bad name %q", in, ref.Name)
		}
		if ref.Qualifier != "" && !reQualifier.MatchString(ref.Qualifier) {
			t.Fatalf("%q: accepted bad qualifier %q", in, ref.Qualifier)
		}
	})
}
