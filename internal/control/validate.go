package control

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/hearthfn/hearth/internal/errdefs"
)

// Lambda's limits. Enforced with Lambda's error types and, where AWS has one, its wording.
const (
	MinMemoryMB           = 128
	MaxMemoryMB           = 10240
	ModelMaxMemoryMB      = 32768 // the model's bound; the service's is MaxMemoryMB
	DefaultMemoryMB       = 128
	MinTimeoutSeconds     = 1
	MaxTimeoutSeconds     = 900
	DefaultTimeoutSeconds = 3
	MinEphemeralMB        = 512
	MaxEphemeralMB        = 10240
	MaxEnvironmentBytes   = 4096
	MaxDescription        = 256
	MaxZippedBytes        = 50 * 1024 * 1024  // direct upload, as on Lambda
	MaxUnzippedBytes      = 250 * 1024 * 1024 // code and layers, as on Lambda
	TotalCodeSizeBytes    = 75 * 1024 * 1024 * 1024
	MaxTags               = 50
	MinUnreservedConc     = 100
)

// Runtimes Hearth runs. A runtime Lambda accepts but Hearth does not run is refused
// with InvalidParameterValueException in Hearth's words.
var supportedRuntimes = map[string]string{
	"python3.9": "python", "python3.10": "python", "python3.11": "python", "python3.12": "python",
	"python3.13": "python", "python3.14": "python",
	"nodejs18.x": "node", "nodejs20.x": "node", "nodejs22.x": "node",
	"provided": "provided", "provided.al2": "provided", "provided.al2023": "provided",
}

// lambdaRuntimes are the runtimes Lambda lets a function be created or updated with,
// in the order its error message lists them (recorded 2026-01-12). The order is
// AWS's, not ours: the message quotes it.
var lambdaRuntimes = []string{
	"nodejs20.x", "python3.14", "provided.al2023", "python3.12", "python3.13", "nodejs24.x",
	"nodejs22.x", "java25", "python3.10", "python3.11", "java21", "ruby3.3", "ruby3.4",
	"ruby3.2", "python3.8", "python3.9", "java17", "nodejs16.x", "dotnet10", "dotnet8",
	"java11", "dotnet6", "nodejs18.x", "provided.al2", "java8.al2",
}

// deprecatedRuntimes are the runtimes Lambda retired: it names them as no longer
// supported rather than as unknown.
var deprecatedRuntimes = map[string]bool{
	"nodejs": true, "nodejs4.3": true, "nodejs4.3-edge": true, "nodejs6.10": true, "nodejs8.10": true,
	"nodejs10.x": true, "nodejs12.x": true, "nodejs14.x": true,
	"python2.7": true, "python3.6": true, "python3.7": true,
	"java8": true, "dotnetcore1.0": true, "dotnetcore2.0": true, "dotnetcore2.1": true,
	"dotnetcore3.1": true, "go1.x": true, "ruby2.5": true, "ruby2.7": true, "provided": true,
}

// RuntimeFamily returns "python", "node" or "provided" for a runtime Hearth runs.
func RuntimeFamily(runtime string) string { return supportedRuntimes[runtime] }

// SupportedRuntimes lists the runtimes Hearth runs, sorted.
func SupportedRuntimes() []string {
	out := make([]string, 0, len(supportedRuntimes))
	for r := range supportedRuntimes {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}

// validateRuntime checks a runtime as Lambda does (its service, not the model: an
// unknown runtime is an InvalidParameterValueException in the validation format, with
// the value unquoted), then that Hearth runs it.
func validateRuntime(rt string) error {
	if deprecatedRuntimes[rt] {
		return errdefs.New(errdefs.ErrInvalidParameter, "The runtime parameter of %s is no longer supported for creating or updating AWS Lambda functions. We recommend you use a supported runtime while creating or updating functions.", rt)
	}
	if !slices.Contains(lambdaRuntimes, rt) {
		return errdefs.New(errdefs.ErrInvalidParameter, "Value %s at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: [%s] or be a valid ARN", rt, strings.Join(lambdaRuntimes, ", "))
	}
	if _, ok := supportedRuntimes[rt]; !ok {
		return errdefs.New(errdefs.ErrInvalidParameter, "The runtime parameter of %s is not supported by Hearth. Supported runtimes: %s.", rt, strings.Join(SupportedRuntimes(), ", "))
	}
	return nil
}

// Handlers: python "path/module.function" (the module may be dotted), node
// "path/file.export", provided runtimes anything without white space (Lambda passes it
// to the bootstrap as _HANDLER and does not interpret it).
var (
	reHandlerAny    = regexp.MustCompile(`^[^\s]{1,128}$`)
	reHandlerPython = regexp.MustCompile(`^[^\s]*[^\s./][.][A-Za-z_][A-Za-z0-9_]*$`)
	reHandlerNode   = regexp.MustCompile(`^[^\s]*[^\s./][.][^\s./]+$`)
)

// errMissingRuntimeOrHandler is AWS's answer to a zip function without either.
var errMissingRuntimeOrHandler = errdefs.New(errdefs.ErrInvalidParameter, "Runtime and Handler are mandatory parameters for functions created with deployment packages.")

// validateHandler applies Hearth's reading of a handler for the runtime families it
// runs (the model's own constraints are checked with the rest of the request).
func validateHandler(runtime, handler string) error {
	if handler == "" {
		return errMissingRuntimeOrHandler
	}
	if !reHandlerAny.MatchString(handler) {
		var errs modelErrors
		checkHandler(&errs, handler)
		return errs.err()
	}
	switch RuntimeFamily(runtime) {
	case "python":
		if !reHandlerPython.MatchString(handler) {
			return errdefs.New(errdefs.ErrInvalidParameter, "Handler %q is not valid for %s: expected MODULE.FUNCTION, e.g. lambda_function.lambda_handler.", handler, runtime)
		}
	case "node":
		if !reHandlerNode.MatchString(handler) {
			return errdefs.New(errdefs.ErrInvalidParameter, "Handler %q is not valid for %s: expected FILE.EXPORT, e.g. index.handler.", handler, runtime)
		}
	}
	return nil
}

func checkHandler(errs *modelErrors, handler string) {
	checkPattern(errs, handler, "handler", reHandlerModel, `[^\s]+`)
	checkMaxLength(errs, handler, "handler", 128)
}

var reHandlerModel = regexp.MustCompile(`^[^\s]+$`)

// validateRange checks one integer member against the model's bounds.
func validateRange(v int, field string, lo, hi int) error {
	var errs modelErrors
	checkRange(&errs, v, field, lo, hi)
	return errs.err()
}

const rolePattern = `arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+`

var reRole = regexp.MustCompile(`^(?:` + rolePattern + `)$`)

// checkMemory is the service's bound on MemorySize, tighter than the model's (32768):
// AWS words it apart from the model's checks, as an InvalidParameterValueException.
func checkMemory(mb *int) error {
	if mb != nil && *mb > MaxMemoryMB {
		return errdefs.New(errdefs.ErrInvalidParameter, "'MemorySize' value failed to satisfy constraint: Member must have value less than or equal to %d", MaxMemoryMB)
	}
	return nil
}

var (
	reEnvKey = regexp.MustCompile(`^[a-zA-Z]([a-zA-Z0-9_])+$`)
	// Keys the runtime sets itself; Lambda refuses them.
	reservedEnv = map[string]bool{
		"_HANDLER": true, "_X_AMZN_TRACE_ID": true, "AWS_DEFAULT_REGION": true, "AWS_REGION": true,
		"AWS_EXECUTION_ENV": true, "AWS_LAMBDA_FUNCTION_NAME": true, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": true,
		"AWS_LAMBDA_FUNCTION_VERSION": true, "AWS_LAMBDA_INITIALIZATION_TYPE": true, "AWS_LAMBDA_LOG_GROUP_NAME": true,
		"AWS_LAMBDA_LOG_STREAM_NAME": true, "AWS_ACCESS_KEY": true, "AWS_ACCESS_KEY_ID": true,
		"AWS_SECRET_ACCESS_KEY": true, "AWS_SESSION_TOKEN": true, "AWS_LAMBDA_RUNTIME_API": true,
		"LAMBDA_TASK_ROOT": true, "LAMBDA_RUNTIME_DIR": true,
	}
)

// checkEnvironmentKeys adds the model's violations of the variables' names. The
// variables are sensitive in the model, so AWS's message leaves their value out.
func checkEnvironmentKeys(errs *modelErrors, env map[string]string) {
	for k := range env {
		if !reEnvKey.MatchString(k) {
			errs.addSensitive("environment.variables", "Map keys must satisfy constraint: [Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+]")
			return
		}
	}
}

// validateEnvironment is the service's check of the variables: reserved names, then
// the 4 KB limit, which Lambda measures on the variables serialized as a JSON object
// in the order the request listed them, and quotes.
func validateEnvironment(env *Environment) error {
	if env == nil {
		return nil
	}
	var errs modelErrors
	checkEnvironmentKeys(&errs, env.Variables)
	if err := errs.err(); err != nil {
		return err
	}
	var reserved []string
	for k := range env.Variables {
		if reservedEnv[k] {
			reserved = append(reserved, k)
		}
	}
	if len(reserved) > 0 {
		sort.Strings(reserved)
		return errdefs.New(errdefs.ErrInvalidParameter, "Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys that are currently not supported for modification. Reserved keys used in this request: %s", strings.Join(reserved, ", "))
	}
	if len(env.Variables) == 0 {
		return nil
	}
	if measured := env.serialized(); len(measured) > MaxEnvironmentBytes {
		return errdefs.New(errdefs.ErrInvalidParameter, "Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: %s", measured)
	}
	return nil
}

// serialized is the variables as a compact JSON object, keys in request order.
func (e *Environment) serialized() string {
	keys := e.keys()
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(jsonString(k))
		b.WriteByte(':')
		b.WriteString(jsonString(e.Variables[k]))
	}
	b.WriteByte('}')
	return b.String()
}

// keys are the variables' names in request order (sorted when the order is unknown,
// as for variables built in code).
func (e *Environment) keys() []string {
	if len(e.order) == len(e.Variables) {
		return e.order
	}
	keys := make([]string, 0, len(e.Variables))
	for k := range e.Variables {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func jsonString(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}

// checkArchitectures adds the model's violations of Architectures: one member, from
// the enum. A list's members are checked as a whole, so AWS names every constraint
// of a member and quotes the list.
func checkArchitectures(errs *modelErrors, a []string) {
	if a == nil {
		return
	}
	value := "[" + strings.Join(a, ", ") + "]"
	if len(a) < 1 {
		errs.add(value, "architectures", "Member must have length greater than or equal to 1")
	}
	if len(a) > 1 {
		errs.add(value, "architectures", "Member must have length less than or equal to 1")
	}
	for _, x := range a {
		if x != "x86_64" && x != "arm64" {
			errs.add(value, "architectures", "Member must satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64], Member must not be null]")
			break
		}
	}
}

func checkTracing(errs *modelErrors, t *TracingConfig) {
	if t != nil && t.Mode != "" {
		checkEnum(errs, t.Mode, "tracingConfig.mode", "Active", "PassThrough")
	}
}

const logGroupPattern = `[\.\-_/#A-Za-z0-9]+`

var reLogGroup = regexp.MustCompile(`^(?:` + logGroupPattern + `)$`)

func checkLogging(errs *modelErrors, l *LoggingConfig) {
	if l == nil {
		return
	}
	if l.ApplicationLogLevel != "" {
		checkEnum(errs, l.ApplicationLogLevel, "loggingConfig.applicationLogLevel", "TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
	}
	if l.LogFormat != "" {
		checkEnum(errs, l.LogFormat, "loggingConfig.logFormat", "JSON", "Text")
	}
	if l.LogGroup != "" {
		checkPattern(errs, l.LogGroup, "loggingConfig.logGroup", reLogGroup, logGroupPattern)
		checkMaxLength(errs, l.LogGroup, "loggingConfig.logGroup", 512)
	}
	if l.SystemLogLevel != "" {
		checkEnum(errs, l.SystemLogLevel, "loggingConfig.systemLogLevel", "DEBUG", "INFO", "WARN")
	}
}

// validateLogLevels is the service's rule: log levels need the JSON format.
func validateLogLevels(l *LoggingConfig) error {
	if l != nil && (l.ApplicationLogLevel != "" || l.SystemLogLevel != "") && l.LogFormat != "JSON" {
		return errdefs.New(errdefs.ErrInvalidParameter, "Log levels can only be set when LogFormat is JSON.")
	}
	return nil
}

const kmsKeyArnPattern = `(arn:(aws[a-zA-Z-]*)?:[a-z0-9-.]+:.*)|()`

var reKMSKeyArn = regexp.MustCompile(`^(?:` + kmsKeyArnPattern + `)$`)

// VpcConfig's lists: AWS checks each ID's length and pattern (its live model; the
// published one has neither), and quotes the list.
var (
	reSubnetID        = regexp.MustCompile(`^subnet-[0-9a-z]*$`)
	reSecurityGroupID = regexp.MustCompile(`^sg-[0-9a-zA-Z]*$`)
)

func checkVpc(errs *modelErrors, raw json.RawMessage) {
	var v struct {
		SubnetIds        []string
		SecurityGroupIds []string
	}
	if len(raw) == 0 || json.Unmarshal(raw, &v) != nil {
		return
	}
	list := func(ids []string, field string, max int, re *regexp.Regexp, pattern string) {
		value := "[" + strings.Join(ids, ", ") + "]"
		if len(ids) > max {
			errs.add(value, field, fmt.Sprintf("Member must have length less than or equal to %d", max))
		}
		for _, id := range ids {
			if len(id) > 1024 || !re.MatchString(id) {
				errs.add(value, field, "Member must satisfy constraint: [Member must have length less than or equal to 1024, Member must have length greater than or equal to 0, Member must satisfy regular expression pattern: "+pattern+"]")
				return
			}
		}
	}
	list(v.SubnetIds, "vpcConfig.subnetIds", 16, reSubnetID, "subnet-[0-9a-z]*")
	list(v.SecurityGroupIds, "vpcConfig.securityGroupIds", 5, reSecurityGroupID, "sg-[0-9a-zA-Z]*")
}

func checkSnapStart(errs *modelErrors, raw json.RawMessage) {
	var v struct{ ApplyOn *string }
	if len(raw) == 0 || json.Unmarshal(raw, &v) != nil || v.ApplyOn == nil {
		return
	}
	checkEnum(errs, *v.ApplyOn, "snapStart.applyOn", "PublishedVersions", "None")
}

// functionFields are the members CreateFunction and UpdateFunctionConfiguration
// share; nil is absent.
type functionFields struct {
	Role             *string
	Handler          *string
	Description      *string
	Timeout          *int
	MemorySize       *int
	VpcConfig        json.RawMessage
	Environment      *Environment
	KMSKeyArn        *string
	TracingConfig    *TracingConfig
	EphemeralStorage *EphemeralStorage
	SnapStart        json.RawMessage
	LoggingConfig    *LoggingConfig
}

// checkModel adds the model's violations of the shared members to errs, in the
// order of the request's members.
func (f *functionFields) checkModel(errs *modelErrors) {
	if f.Role != nil {
		checkPattern(errs, *f.Role, "role", reRole, rolePattern)
	}
	if f.Handler != nil && *f.Handler != "" {
		checkHandler(errs, *f.Handler)
	}
	if f.Description != nil {
		checkMaxLength(errs, *f.Description, "description", MaxDescription)
	}
	if f.Timeout != nil {
		// The model sets only the minimum now; AWS answers a timeout over 900 in the
		// same form (recorded 2020), so the maximum is checked with it.
		checkRange(errs, *f.Timeout, "timeout", MinTimeoutSeconds, MaxTimeoutSeconds)
	}
	if f.MemorySize != nil {
		checkRange(errs, *f.MemorySize, "memorySize", MinMemoryMB, ModelMaxMemoryMB)
	}
	checkVpc(errs, f.VpcConfig)
	if f.Environment != nil {
		checkEnvironmentKeys(errs, f.Environment.Variables)
	}
	if f.KMSKeyArn != nil {
		checkPattern(errs, *f.KMSKeyArn, "kMSKeyArn", reKMSKeyArn, kmsKeyArnPattern)
	}
	checkTracing(errs, f.TracingConfig)
	if f.EphemeralStorage != nil {
		checkRange(errs, f.EphemeralStorage.Size, "ephemeralStorage.size", MinEphemeralMB, MaxEphemeralMB)
	}
	checkSnapStart(errs, f.SnapStart)
	checkLogging(errs, f.LoggingConfig)
}

// checkService applies the service's checks of the shared members, after the model's.
func (f *functionFields) checkService() error {
	if err := checkMemory(f.MemorySize); err != nil {
		return err
	}
	if err := validateEnvironment(f.Environment); err != nil {
		return err
	}
	return validateLogLevels(f.LoggingConfig)
}

func validateTags(tags map[string]string) error {
	if err := tagLimit(tags); err != nil {
		return err
	}
	for k, v := range tags {
		if len(k) < 1 || len(k) > 128 {
			return errdefs.New(errdefs.ErrInvalidParameter, "Tag key %q must be 1 to 128 characters long.", k)
		}
		if len(v) > 256 {
			return errdefs.New(errdefs.ErrInvalidParameter, "The value of tag %q must be at most 256 characters long.", k)
		}
		if strings.HasPrefix(strings.ToLower(k), "aws:") {
			return errdefs.New(errdefs.ErrInvalidParameter, "Tag key %q uses the reserved prefix aws:.", k)
		}
	}
	return nil
}

// refuse names the first member Hearth cannot honour yet.
func (u *unsupported) refuse() error {
	set := func(r json.RawMessage) bool {
		s := strings.TrimSpace(string(r))
		return s != "" && s != "null" && s != "{}" && s != "[]" && s != `""`
	}
	fields := []struct {
		name string
		raw  json.RawMessage
	}{
		{"Layers", u.Layers}, {"VpcConfig", u.VpcConfig},
		{"FileSystemConfigs", u.FileSystemConfigs}, {"ImageConfig", u.ImageConfig},
		{"CodeSigningConfigArn", u.CodeSigningConfigArn}, {"CapacityProviderConfig", u.CapacityProviderConfig},
		{"DurableConfig", u.DurableConfig}, {"TenancyConfig", u.TenancyConfig}, {"PublishTo", u.PublishTo},
	}
	for _, f := range fields {
		if set(f.raw) {
			if f.name == "VpcConfig" && emptyVpc(f.raw) {
				continue
			}
			return errdefs.New(errdefs.ErrInvalidParameter, "Hearth does not support %s yet; remove it from the request.", f.name)
		}
	}
	if set(u.SnapStart) && !strings.Contains(string(u.SnapStart), `"None"`) {
		return errdefs.New(errdefs.ErrInvalidParameter, "Hearth does not support SnapStart yet; set SnapStart.ApplyOn to None or remove it.")
	}
	return nil
}

// emptyVpc accepts what Terraform sends for "no VPC": empty subnet and group lists.
func emptyVpc(raw json.RawMessage) bool {
	var v struct {
		SubnetIds        []string
		SecurityGroupIds []string
	}
	return json.Unmarshal(raw, &v) == nil && len(v.SubnetIds) == 0 && len(v.SecurityGroupIds) == 0
}

// validationError renders a model-constraint violation the way AWS words it.
func validationError(value, field, constraint string) error {
	var errs modelErrors
	errs.add(value, field, constraint)
	return errs.err()
}

// modelErrors collects violations of the API model's constraints. AWS checks a whole
// request against the model before anything else, and reports every violation in one
// ValidationException.
type modelErrors struct{ msgs []string }

// maxQuoted bounds the value a message quotes: AWS quotes values whole (hundreds of
// characters in its recordings), but a value can be as long as a request.
const maxQuoted = 2048

func (m *modelErrors) add(value, field, constraint string) {
	if len(value) > maxQuoted {
		value = value[:maxQuoted] + "…"
	}
	m.msgs = append(m.msgs, fmt.Sprintf("Value '%s' at '%s' failed to satisfy constraint: %s", value, field, constraint))
}

// addSensitive reports a violation by a member the model marks sensitive, whose
// value AWS does not repeat.
func (m *modelErrors) addSensitive(field, constraint string) {
	m.msgs = append(m.msgs, fmt.Sprintf("Value at '%s' failed to satisfy constraint: %s", field, constraint))
}

// addNull reports a required member that is absent.
func (m *modelErrors) addNull(field string) {
	m.msgs = append(m.msgs, fmt.Sprintf("Value null at '%s' failed to satisfy constraint: Member must not be null", field))
}

func (m *modelErrors) len() int { return len(m.msgs) }

func (m *modelErrors) err() error {
	switch len(m.msgs) {
	case 0:
		return nil
	case 1:
		return errdefs.New(errdefs.ErrValidation, "1 validation error detected: %s", m.msgs[0])
	}
	return errdefs.New(errdefs.ErrValidation, "%d validation errors detected: %s", len(m.msgs), strings.Join(m.msgs, "; "))
}

func checkRange(errs *modelErrors, v int, field string, lo, hi int) {
	if v < lo {
		errs.add(strconv.Itoa(v), field, fmt.Sprintf("Member must have value greater than or equal to %d", lo))
	}
	if v > hi {
		errs.add(strconv.Itoa(v), field, fmt.Sprintf("Member must have value less than or equal to %d", hi))
	}
}

func checkMaxLength(errs *modelErrors, v, field string, max int) {
	if javaLength(v) > max {
		errs.add(v, field, fmt.Sprintf("Member must have length less than or equal to %d", max))
	}
}

func checkPattern(errs *modelErrors, v, field string, re *regexp.Regexp, pattern string) {
	if !re.MatchString(v) {
		errs.add(v, field, "Member must satisfy regular expression pattern: "+pattern)
	}
}

func checkEnum(errs *modelErrors, v, field string, values ...string) {
	if !slices.Contains(values, v) {
		errs.add(v, field, "Member must satisfy enum value set: ["+strings.Join(values, ", ")+"]")
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// javaLength is a string's length as AWS (Java) counts it: UTF-16 code units.
func javaLength(s string) int {
	n := 0
	for _, r := range s {
		n++
		if r > 0xFFFF {
			n++
		}
	}
	return n
}
