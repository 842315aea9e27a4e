package control

import (
	"regexp"

	"github.com/hearthfn/hearth/internal/errdefs"
)

// nameShape is one of the model's shapes for a function identifier. Operations differ:
// CreateFunction, UpdateFunction*, PublishVersion and the alias operations take a
// FunctionName, the operations that read or delete a version (GetFunction, Invoke,
// DeleteFunction, ListVersionsByFunction, …) a NamespacedFunctionName, which also
// admits "." in the name and the qualifier $LATEST.PUBLISHED. AWS quotes the pattern
// of the shape in its validation message, so each keeps the text AWS answers today
// (recorded 2025-11-25; newer than the API model, whose patterns lack "(eusc-)?").
type nameShape struct {
	pattern string
	re      *regexp.Regexp
	max     int
}

var (
	shapeFunctionName = newNameShape(
		`(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?`, 140)
	shapeNamespacedFunctionName = newNameShape(
		`(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?([a-zA-Z0-9-_\.]+)(:(\$LATEST(\.PUBLISHED)?|[a-zA-Z0-9-_]+))?`, 256)
)

// The capture groups of both patterns: the region with its colon, the account with
// its colon, the name, and the qualifier.
const (
	groupRegion    = 3
	groupAccount   = 9
	groupName      = 11
	groupQualifier = 13
)

func newNameShape(pattern string, max int) nameShape {
	// The model's patterns must match the whole value; Go's regexp has no look-ahead
	// but needs none here. Leftmost-first matching takes each optional prefix when it
	// can, so "arn:aws:lambda:us-east-1:123456789012:function" names "function".
	return nameShape{pattern: pattern, re: regexp.MustCompile(`^(?:` + pattern + `)$`), max: max}
}

// Qualifiers: the ?Qualifier= of the operations on a version (the model's
// NumericLatestPublishedOrAliasQualifier), versions, and alias names.
const qualifierPattern = `\$(LATEST(\.PUBLISHED)?)|[a-zA-Z0-9-_$]+`

var (
	reQualifierParam = regexp.MustCompile(`^(?:` + qualifierPattern + `)$`)
	reVersion        = regexp.MustCompile(`^[0-9]{1,10}$`)
	reDigits         = regexp.MustCompile(`^[0-9]+$`)
	reAlias          = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,128}$`)
)

// Latest is the qualifier of the unpublished version.
const Latest = "$LATEST"

// MaxFunctionNameLength is the longest function name CreateFunction accepts; longer
// names fit the pattern (it has no bound of its own) but not the service.
const MaxFunctionNameLength = 64

// FunctionRef is a parsed function identifier: a name, a partial ARN
// (ACCOUNT:function:NAME) or a full ARN, each with an optional :QUALIFIER.
type FunctionRef struct {
	Name      string
	Qualifier string // "" when none was given
}

// ParseFunctionRef parses a member of the model's FunctionName shape (CreateFunction,
// UpdateFunctionCode/Configuration, PublishVersion, the alias, concurrency and URL
// operations): the model's length and pattern first, then the region and account an
// ARN names.
func (s *Service) ParseFunctionRef(field, id string) (FunctionRef, error) {
	return s.parseRef(shapeFunctionName, field, id, nil)
}

// ParseNamespacedFunctionRef parses a member of the model's NamespacedFunctionName
// shape: GetFunction, GetFunctionConfiguration, DeleteFunction, Invoke,
// ListVersionsByFunction, GetPolicy, the event invoke config operations, ….
func (s *Service) ParseNamespacedFunctionRef(field, id string) (FunctionRef, error) {
	return s.parseRef(shapeNamespacedFunctionName, field, id, nil)
}

// parseRef checks id against shape, adding its violations to errs (and returning
// them when errs is nil, the caller has no other members to check), then resolves
// it. A ref whose id broke the model is returned empty with a nil error when the
// caller collects: the caller reports errs before it uses the ref.
func (s *Service) parseRef(shape nameShape, field, id string, errs *modelErrors) (FunctionRef, error) {
	own := errs == nil
	if own {
		errs = &modelErrors{}
	}
	n := errs.len()
	checkFunctionName(errs, shape, field, id)
	if errs.len() > n {
		if own {
			return FunctionRef{}, errs.err()
		}
		return FunctionRef{}, nil
	}
	return s.refOf(shape, id)
}

// checkFunctionName adds the model's violations of a function identifier to errs, in
// the order AWS lists them: the pattern, then the length.
func checkFunctionName(errs *modelErrors, shape nameShape, field, id string) {
	if len(id) < 1 {
		errs.add(id, field, "Member must have length greater than or equal to 1")
		return
	}
	if !shape.re.MatchString(id) {
		errs.add(id, field, "Member must satisfy regular expression pattern: "+shape.pattern)
	}
	if len(id) > shape.max {
		errs.add(id, field, "Member must have length less than or equal to "+itoa(shape.max))
	}
}

// refOf splits an identifier that satisfies shape, and checks that an ARN names this
// region and account: another region's functions are "not reachable" (404), another
// account's are denied (403, and AWS sends no message with it).
func (s *Service) refOf(shape nameShape, id string) (FunctionRef, error) {
	m := shape.re.FindStringSubmatch(id)
	if m == nil {
		return FunctionRef{}, validationError(id, "functionName", "Member must satisfy regular expression pattern: "+shape.pattern)
	}
	if r := trimColon(m[groupRegion]); r != "" && r != s.region {
		return FunctionRef{}, errdefs.New(errdefs.ErrNotFound, "Functions from '%s' are not reachable in this region ('%s')", r, s.region)
	}
	if a := trimColon(m[groupAccount]); a != "" && a != s.account {
		return FunctionRef{}, errdefs.New(errdefs.ErrAccessDenied, "")
	}
	return FunctionRef{Name: m[groupName], Qualifier: m[groupQualifier]}, nil
}

func trimColon(s string) string {
	if s == "" {
		return ""
	}
	return s[:len(s)-1]
}

// qualifierShape is one of the model's shapes for a ?Qualifier= (all at most 128
// long); AWS quotes the pattern of the operation's shape.
type qualifierShape struct {
	pattern string
	valid   func(string) bool
}

// versionQualifier is the operations on a version's NumericLatestPublishedOrAliasQualifier.
var versionQualifier = qualifierShape{qualifierPattern, reQualifierParam.MatchString}

// check adds the violations of a ?Qualifier= to errs ("" is absent).
func (sh qualifierShape) check(errs *modelErrors, qualifier string) {
	if qualifier == "" {
		return
	}
	if !sh.valid(qualifier) {
		errs.add(qualifier, "qualifier", "Member must satisfy regular expression pattern: "+sh.pattern)
	}
	if len(qualifier) > 128 {
		errs.add(qualifier, "qualifier", "Member must have length less than or equal to 128")
	}
}

// checkQualifier adds the violations of an operation on a version's ?Qualifier=.
func checkQualifier(errs *modelErrors, qualifier string) { versionQualifier.check(errs, qualifier) }

// parseQualified parses the function identifier and ?Qualifier= of an operation on a
// version (GetFunction, GetFunctionConfiguration, DeleteFunction): the model's
// violations of both together, then the region and account, then whether the two
// qualifiers agree. It returns the qualifier in force ("" for none).
func (s *Service) parseQualified(functionName, qualifier string) (FunctionRef, string, error) {
	var errs modelErrors
	ref, err := s.parseRef(shapeNamespacedFunctionName, "functionName", functionName, &errs)
	checkQualifier(&errs, qualifier)
	if err := errs.err(); err != nil {
		return FunctionRef{}, "", err
	}
	if err != nil {
		return FunctionRef{}, "", err
	}
	q, err := mergeQualifiers(ref, qualifier)
	return ref, q, err
}

// resolveQualifier merges a qualifier given in the name with one given as ?Qualifier=,
// checking the latter against the model first.
func resolveQualifier(ref FunctionRef, qualifier string) (string, error) {
	var errs modelErrors
	checkQualifier(&errs, qualifier)
	if err := errs.err(); err != nil {
		return "", err
	}
	return mergeQualifiers(ref, qualifier)
}

func mergeQualifiers(ref FunctionRef, qualifier string) (string, error) {
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

// qualifiedArnOf is the ARN AWS names in a not-found answer: qualified when the
// caller gave a qualifier.
func (s *Service) qualifiedArnOf(name, qualifier string) string {
	if qualifier == "" {
		return s.FunctionArn(name)
	}
	return s.QualifiedArn(name, qualifier)
}

// isAliasName tells an alias from a version: a qualifier of digits only is a version.
func isAliasName(q string) bool {
	return reAlias.MatchString(q) && !reDigits.MatchString(q)
}
