package control

import (
	"regexp"
	"strings"

	"github.com/hearthfn/hearth/internal/errdefs"
)

// Names and qualifiers, with the model's patterns. Go's regexp has no look-ahead, so
// the alias rule "not all digits" is checked in code.
var (
	reFunctionName = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)
	reQualifier    = regexp.MustCompile(`^(\$LATEST|[a-zA-Z0-9_-]{1,128})$`)
	reVersion      = regexp.MustCompile(`^[0-9]{1,10}$`)
	reAlias        = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,128}$`)
	reRegion       = regexp.MustCompile(`^[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d$`)
	reAccount      = regexp.MustCompile(`^\d{12}$`)
)

// Latest is the qualifier of the unpublished version.
const Latest = "$LATEST"

// FunctionRef is a parsed function identifier: a name, a partial ARN
// (ACCOUNT:function:NAME) or a full ARN, each with an optional :QUALIFIER.
type FunctionRef struct {
	Name      string
	Qualifier string // "" when none was given
}

// ParseFunctionRef parses the ways Lambda lets a caller name a function, and checks
// that an ARN names this region and account.
func (s *Service) ParseFunctionRef(field, id string) (FunctionRef, error) {
	if id == "" {
		return FunctionRef{}, validationError(id, field, "Member must have length greater than or equal to 1")
	}
	if len(id) > 256 {
		return FunctionRef{}, validationError(id, field, "Member must have length less than or equal to 256")
	}
	parts := strings.Split(id, ":")
	var ref FunctionRef
	qualified := false // a qualifier separator was present, so the qualifier must not be empty
	switch {
	case parts[0] == "arn":
		// arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]
		if len(parts) < 7 || len(parts) > 8 || !strings.HasPrefix(parts[1], "aws") || parts[2] != "lambda" || parts[5] != "function" {
			return ref, errdefs.New(errdefs.ErrInvalidParameter, "%q is not a function ARN: expected arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]", id)
		}
		if parts[3] != s.region {
			return ref, errdefs.New(errdefs.ErrInvalidParameter, "the ARN %q names region %q, but this Hearth serves region %q", id, parts[3], s.region)
		}
		if parts[4] != s.account {
			return ref, errdefs.New(errdefs.ErrInvalidParameter, "the ARN %q names account %q, but this Hearth serves account %q", id, parts[4], s.account)
		}
		ref.Name = parts[6]
		if len(parts) == 8 {
			ref.Qualifier, qualified = parts[7], true
		}
	case len(parts) >= 3 && parts[1] == "function":
		// ACCOUNT:function:NAME[:QUALIFIER]
		if len(parts) > 4 || !reAccount.MatchString(parts[0]) {
			return ref, errdefs.New(errdefs.ErrInvalidParameter, "%q is not a partial function ARN: expected ACCOUNT:function:NAME[:QUALIFIER]", id)
		}
		if parts[0] != s.account {
			return ref, errdefs.New(errdefs.ErrInvalidParameter, "the partial ARN %q names account %q, but this Hearth serves account %q", id, parts[0], s.account)
		}
		ref.Name = parts[2]
		if len(parts) == 4 {
			ref.Qualifier, qualified = parts[3], true
		}
	case len(parts) <= 2:
		ref.Name = parts[0]
		if len(parts) == 2 {
			ref.Qualifier, qualified = parts[1], true
		}
	default:
		return ref, validationError(id, field, "Member must satisfy regular expression pattern: "+functionNamePattern)
	}
	if !reFunctionName.MatchString(ref.Name) {
		return ref, validationError(id, field, "Member must satisfy regular expression pattern: "+functionNamePattern)
	}
	if qualified && !reQualifier.MatchString(ref.Qualifier) {
		return ref, validationError(id, field, "Member must satisfy regular expression pattern: "+functionNamePattern)
	}
	return ref, nil
}

const functionNamePattern = `(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?`

// resolveQualifier merges a qualifier given in the name with one given as ?Qualifier=.
func resolveQualifier(ref FunctionRef, qualifier string) (string, error) {
	if qualifier != "" && !reQualifier.MatchString(qualifier) {
		return "", validationError(qualifier, "qualifier", `Member must satisfy regular expression pattern: (|[a-zA-Z0-9$_-]+)`)
	}
	switch {
	case ref.Qualifier == "":
		return qualifier, nil
	case qualifier == "" || qualifier == ref.Qualifier:
		return ref.Qualifier, nil
	default:
		return "", errdefs.New(errdefs.ErrInvalidParameter, "The derived qualifier from the function name does not match the specified qualifier.")
	}
}

// FunctionArn is the unqualified ARN of a function.
func (s *Service) FunctionArn(name string) string {
	return "arn:aws:lambda:" + s.region + ":" + s.account + ":function:" + name
}

// QualifiedArn is the ARN of a version or alias.
func (s *Service) QualifiedArn(name, qualifier string) string {
	return s.FunctionArn(name) + ":" + qualifier
}

func isAliasName(q string) bool {
	return q != Latest && reAlias.MatchString(q) && !reVersion.MatchString(q)
}
