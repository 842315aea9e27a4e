package control

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/hearthfn/hearth/internal/errdefs"
)

// Lambda's limits. Enforced with Lambda's error types and, where AWS has one, its wording.
const (
	MinMemoryMB           = 128
	MaxMemoryMB           = 10240
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

// Runtimes Hearth runs. A runtime the model knows but Hearth does not is refused with
// InvalidParameterValueException; one Lambda retired gets Lambda's own message.
var supportedRuntimes = map[string]string{
	"python3.9": "python", "python3.10": "python", "python3.11": "python", "python3.12": "python",
	"python3.13": "python", "python3.14": "python",
	"nodejs18.x": "node", "nodejs20.x": "node", "nodejs22.x": "node",
	"provided": "provided", "provided.al2": "provided", "provided.al2023": "provided",
}

var deprecatedRuntimes = map[string]bool{
	"nodejs": true, "nodejs4.3": true, "nodejs6.10": true, "nodejs8.10": true, "nodejs10.x": true,
	"nodejs12.x": true, "nodejs14.x": true, "nodejs16.x": true, "nodejs4.3-edge": true,
	"python2.7": true, "python3.6": true, "python3.7": true, "python3.8": true,
	"java8": true, "dotnetcore1.0": true, "dotnetcore2.0": true, "dotnetcore2.1": true,
	"dotnetcore3.1": true, "dotnet6": true, "go1.x": true, "ruby2.5": true, "ruby2.7": true,
}

// modelRuntimes is the Runtime enum of the API model.
var modelRuntimes = []string{"nodejs", "nodejs4.3", "nodejs6.10", "nodejs8.10", "nodejs10.x", "nodejs12.x", "nodejs14.x", "nodejs16.x", "java8", "java8.al2", "java11", "python2.7", "python3.6", "python3.7", "python3.8", "python3.9", "dotnetcore1.0", "dotnetcore2.0", "dotnetcore2.1", "dotnetcore3.1", "dotnet6", "dotnet8", "nodejs4.3-edge", "go1.x", "ruby2.5", "ruby2.7", "provided", "provided.al2", "nodejs18.x", "python3.10", "java17", "ruby3.2", "ruby3.3", "ruby3.4", "python3.11", "nodejs20.x", "provided.al2023", "python3.12", "java21", "python3.13", "nodejs22.x", "nodejs24.x", "python3.14", "java25", "dotnet10", "ruby4.0"}

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

func validateRuntime(rt string) error {
	if _, ok := supportedRuntimes[rt]; ok {
		return nil
	}
	known := false
	for _, r := range modelRuntimes {
		known = known || r == rt
	}
	if !known {
		return validationError(rt, "runtime", "Member must satisfy enum value set: ["+strings.Join(modelRuntimes, ", ")+"]")
	}
	if deprecatedRuntimes[rt] {
		return errdefs.New(errdefs.ErrInvalidParameter, "The runtime parameter of %s is no longer supported for creating or updating AWS Lambda functions. We recommend you use a supported runtime while creating or updating functions.", rt)
	}
	return errdefs.New(errdefs.ErrInvalidParameter, "The runtime parameter of %s is not supported by Hearth. Supported runtimes: %s.", rt, strings.Join(SupportedRuntimes(), ", "))
}

// Handlers: python "path/module.function" (the module may be dotted), node
// "path/file.export", provided runtimes anything without white space (Lambda passes it
// to the bootstrap as _HANDLER and does not interpret it).
var (
	reHandlerAny    = regexp.MustCompile(`^[^\s]{1,128}$`)
	reHandlerPython = regexp.MustCompile(`^[^\s]*[^\s./][.][A-Za-z_][A-Za-z0-9_]*$`)
	reHandlerNode   = regexp.MustCompile(`^[^\s]*[^\s./][.][^\s./]+$`)
)

func validateHandler(runtime, handler string) error {
	if handler == "" {
		return errdefs.New(errdefs.ErrInvalidParameter, "The Handler parameter is required for functions with PackageType Zip and runtime %s.", runtime)
	}
	if !reHandlerAny.MatchString(handler) {
		return validationError(handler, "handler", `Member must satisfy regular expression pattern: [^\s]+ and have length less than or equal to 128`)
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

func validateRange(v int, field string, lo, hi int) error {
	if v < lo {
		return validationError(fmt.Sprint(v), field, fmt.Sprintf("Member must have value greater than or equal to %d", lo))
	}
	if v > hi {
		return validationError(fmt.Sprint(v), field, fmt.Sprintf("Member must have value less than or equal to %d", hi))
	}
	return nil
}

var reRole = regexp.MustCompile(`^arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+$`)

func validateRole(role string) error {
	if !reRole.MatchString(role) {
		return validationError(role, "role", `Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+`)
	}
	return nil
}

func validateDescription(d string) error {
	if len(d) > MaxDescription {
		return validationError(d, "description", "Member must have length less than or equal to 256")
	}
	return nil
}

var (
	reEnvKey = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_]+$`)
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

func validateEnvironment(env map[string]string) error {
	var reserved []string
	for k := range env {
		if !reEnvKey.MatchString(k) {
			return validationError(k, "environment.variables", "Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+")
		}
		if reservedEnv[k] {
			reserved = append(reserved, k)
		}
	}
	if len(reserved) > 0 {
		sort.Strings(reserved)
		return errdefs.New(errdefs.ErrInvalidParameter, "Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys that are currently not supported for modification. Reserved keys used in this request: %s", strings.Join(reserved, ", "))
	}
	// Lambda measures the variables as the JSON object it stores.
	b, _ := json.Marshal(env)
	if len(env) > 0 && len(b) > MaxEnvironmentBytes {
		return errdefs.New(errdefs.ErrInvalidParameter, "Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: %d bytes", len(b))
	}
	return nil
}

func validateArchitectures(a []string) error {
	if len(a) != 1 {
		return validationError(fmt.Sprint(a), "architectures", "Member must have length less than or equal to 1 and greater than or equal to 1")
	}
	if a[0] != "x86_64" && a[0] != "arm64" {
		return validationError(a[0], "architectures", "Member must satisfy enum value set: [x86_64, arm64]")
	}
	return nil
}

func validateTracing(t *TracingConfig) error {
	if t != nil && t.Mode != "" && t.Mode != "Active" && t.Mode != "PassThrough" {
		return validationError(t.Mode, "tracingConfig.mode", "Member must satisfy enum value set: [Active, PassThrough]")
	}
	return nil
}

func validateLogging(l *LoggingConfig) error {
	if l == nil {
		return nil
	}
	if l.LogFormat != "" && l.LogFormat != "JSON" && l.LogFormat != "Text" {
		return validationError(l.LogFormat, "loggingConfig.logFormat", "Member must satisfy enum value set: [JSON, Text]")
	}
	levels := "TRACE DEBUG INFO WARN ERROR FATAL"
	if l.ApplicationLogLevel != "" && !strings.Contains(levels, l.ApplicationLogLevel) {
		return validationError(l.ApplicationLogLevel, "loggingConfig.applicationLogLevel", "Member must satisfy enum value set: [TRACE, DEBUG, INFO, WARN, ERROR, FATAL]")
	}
	if l.SystemLogLevel != "" && !strings.Contains("DEBUG INFO WARN", l.SystemLogLevel) {
		return validationError(l.SystemLogLevel, "loggingConfig.systemLogLevel", "Member must satisfy enum value set: [DEBUG, INFO, WARN]")
	}
	if (l.ApplicationLogLevel != "" || l.SystemLogLevel != "") && l.LogFormat != "JSON" {
		return errdefs.New(errdefs.ErrInvalidParameter, "Log levels can only be set when LogFormat is JSON.")
	}
	return nil
}

func validateTags(tags map[string]string) error {
	if len(tags) > MaxTags {
		return errdefs.New(errdefs.ErrInvalidParameter, "A function can have at most %d tags; this request has %d.", MaxTags, len(tags))
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

// refuseUnsupported names the first member Hearth cannot honour yet.
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
	if len(value) > 256 {
		value = value[:256] + "…"
	}
	return errdefs.New(errdefs.ErrValidation, "1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: %s", value, field, constraint)
}
