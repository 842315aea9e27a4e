package control

import (
	"bytes"
	"encoding/json"
)

// The shapes below are the Lambda API's (lambda-api-2015-03-31.json), with its field
// names, so the edge renders them as they are. Optional inputs are pointers: "absent"
// and "zero" differ in UpdateFunctionConfiguration.

// FunctionConfiguration is what Lambda returns for a function version.
type FunctionConfiguration struct {
	FunctionName     string                `json:"FunctionName"`
	FunctionArn      string                `json:"FunctionArn"`
	Runtime          string                `json:"Runtime,omitempty"`
	Role             string                `json:"Role"`
	Handler          string                `json:"Handler,omitempty"`
	CodeSize         int64                 `json:"CodeSize"`
	Description      string                `json:"Description"`
	Timeout          int                   `json:"Timeout"`
	MemorySize       int                   `json:"MemorySize"`
	LastModified     string                `json:"LastModified"`
	CodeSha256       string                `json:"CodeSha256"`
	Version          string                `json:"Version"`
	Environment      *EnvironmentResponse  `json:"Environment,omitempty"`
	TracingConfig    *TracingConfig        `json:"TracingConfig,omitempty"`
	RevisionId       string                `json:"RevisionId"`
	State            string                `json:"State"`
	StateReason      string                `json:"StateReason,omitempty"`
	StateReasonCode  string                `json:"StateReasonCode,omitempty"`
	LastUpdateStatus string                `json:"LastUpdateStatus"`
	PackageType      string                `json:"PackageType"`
	Architectures    []string              `json:"Architectures"`
	EphemeralStorage *EphemeralStorage     `json:"EphemeralStorage"`
	LoggingConfig    *LoggingConfig        `json:"LoggingConfig,omitempty"`
	SnapStart        *SnapStartResponse    `json:"SnapStart,omitempty"`
	KMSKeyArn        string                `json:"KMSKeyArn,omitempty"`
	DeadLetterConfig *DeadLetterConfig     `json:"DeadLetterConfig,omitempty"`
	RuntimeVersion   *RuntimeVersionConfig `json:"RuntimeVersionConfig,omitempty"`
}

// EnvironmentResponse is a function's environment as returned.
type EnvironmentResponse struct {
	Variables map[string]string `json:"Variables"`
}

// Environment is a function's environment as set.
type Environment struct {
	Variables map[string]string `json:"Variables"`
	// order is Variables' names as the request listed them: Lambda measures the 4 KB
	// limit on the variables as sent, and quotes them in that order.
	order []string
}

// UnmarshalJSON decodes the variables and remembers their order.
func (e *Environment) UnmarshalJSON(b []byte) error {
	var raw struct {
		Variables json.RawMessage `json:"Variables"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*e = Environment{}
	if len(raw.Variables) == 0 || string(raw.Variables) == "null" {
		return nil
	}
	if err := json.Unmarshal(raw.Variables, &e.Variables); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(raw.Variables))
	if _, err := dec.Token(); err != nil { // {
		return err
	}
	seen := make(map[string]bool, len(e.Variables))
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return err
		}
		// A repeated name keeps its first place and its last value, as a JSON map does.
		if k, _ := t.(string); !seen[k] {
			seen[k] = true
			e.order = append(e.order, k)
		}
	}
	return nil
}

// EphemeralStorage is the size of /tmp in MB.
type EphemeralStorage struct {
	Size int `json:"Size"`
}

// TracingConfig is stored and returned; Hearth records no traces yet.
type TracingConfig struct {
	Mode string `json:"Mode,omitempty"`
}

// LoggingConfig is stored and returned.
type LoggingConfig struct {
	ApplicationLogLevel string `json:"ApplicationLogLevel,omitempty"`
	LogFormat           string `json:"LogFormat,omitempty"`
	LogGroup            string `json:"LogGroup,omitempty"`
	SystemLogLevel      string `json:"SystemLogLevel,omitempty"`
}

// SnapStartResponse reports SnapStart as off.
type SnapStartResponse struct {
	ApplyOn            string `json:"ApplyOn"`
	OptimizationStatus string `json:"OptimizationStatus"`
}

// RuntimeVersionConfig names the runtime build a version runs on.
type RuntimeVersionConfig struct {
	RuntimeVersionArn string `json:"RuntimeVersionArn,omitempty"`
}

// FunctionCode is the Code member of CreateFunction.
type FunctionCode struct {
	ZipFile         []byte  `json:"ZipFile"` // base64 in JSON, as the model's blob type
	S3Bucket        *string `json:"S3Bucket"`
	S3Key           *string `json:"S3Key"`
	S3ObjectVersion *string `json:"S3ObjectVersion"`
	ImageUri        *string `json:"ImageUri"`
	SourceKMSKeyArn *string `json:"SourceKMSKeyArn"`
}

// unsupported holds members of the model that Hearth does not honour yet. They are
// decoded only to be refused: accepting and ignoring them would be a silent success.
type unsupported struct {
	Layers                 json.RawMessage `json:"Layers"`
	VpcConfig              json.RawMessage `json:"VpcConfig"`
	FileSystemConfigs      json.RawMessage `json:"FileSystemConfigs"`
	ImageConfig            json.RawMessage `json:"ImageConfig"`
	SnapStart              json.RawMessage `json:"SnapStart"`
	CodeSigningConfigArn   json.RawMessage `json:"CodeSigningConfigArn"`
	CapacityProviderConfig json.RawMessage `json:"CapacityProviderConfig"`
	DurableConfig          json.RawMessage `json:"DurableConfig"`
	TenancyConfig          json.RawMessage `json:"TenancyConfig"`
	PublishTo              json.RawMessage `json:"PublishTo"`
}

// CreateFunctionInput is CreateFunctionRequest.
type CreateFunctionInput struct {
	FunctionName     string            `json:"FunctionName"`
	Runtime          string            `json:"Runtime"`
	Role             string            `json:"Role"`
	Handler          string            `json:"Handler"`
	Code             *FunctionCode     `json:"Code"`
	Description      string            `json:"Description"`
	Timeout          *int              `json:"Timeout"`
	MemorySize       *int              `json:"MemorySize"`
	Publish          bool              `json:"Publish"`
	PackageType      string            `json:"PackageType"`
	Environment      *Environment      `json:"Environment"`
	TracingConfig    *TracingConfig    `json:"TracingConfig"`
	Tags             map[string]string `json:"Tags"`
	Architectures    []string          `json:"Architectures"`
	EphemeralStorage *EphemeralStorage `json:"EphemeralStorage"`
	LoggingConfig    *LoggingConfig    `json:"LoggingConfig"`
	KMSKeyArn        *string           `json:"KMSKeyArn"`
	DeadLetterConfig *DeadLetterConfig `json:"DeadLetterConfig"`
	unsupported
}

// UpdateFunctionCodeInput is UpdateFunctionCodeRequest.
type UpdateFunctionCodeInput struct {
	FunctionName    string          `json:"-"`
	ZipFile         []byte          `json:"ZipFile"`
	Publish         bool            `json:"Publish"`
	DryRun          bool            `json:"DryRun"`
	RevisionId      string          `json:"RevisionId"`
	Architectures   []string        `json:"Architectures"`
	S3Bucket        *string         `json:"S3Bucket"`
	S3Key           *string         `json:"S3Key"`
	S3ObjectVersion *string         `json:"S3ObjectVersion"`
	ImageUri        *string         `json:"ImageUri"`
	SourceKMSKeyArn *string         `json:"SourceKMSKeyArn"`
	PublishTo       json.RawMessage `json:"PublishTo"`
}

// UpdateFunctionConfigurationInput is UpdateFunctionConfigurationRequest.
type UpdateFunctionConfigurationInput struct {
	FunctionName     string            `json:"-"`
	Runtime          *string           `json:"Runtime"`
	Role             *string           `json:"Role"`
	Handler          *string           `json:"Handler"`
	Description      *string           `json:"Description"`
	Timeout          *int              `json:"Timeout"`
	MemorySize       *int              `json:"MemorySize"`
	Environment      *Environment      `json:"Environment"`
	TracingConfig    *TracingConfig    `json:"TracingConfig"`
	EphemeralStorage *EphemeralStorage `json:"EphemeralStorage"`
	LoggingConfig    *LoggingConfig    `json:"LoggingConfig"`
	KMSKeyArn        *string           `json:"KMSKeyArn"`
	DeadLetterConfig *DeadLetterConfig `json:"DeadLetterConfig"`
	RevisionId       string            `json:"RevisionId"`
	unsupported
}

// FunctionCodeLocation is the Code member of GetFunction's answer.
type FunctionCodeLocation struct {
	RepositoryType string `json:"RepositoryType"`
	Location       string `json:"Location"`
}

// Concurrency is a function's reserved concurrency.
type Concurrency struct {
	ReservedConcurrentExecutions *int `json:"ReservedConcurrentExecutions,omitempty"`
}

// GetFunctionOutput is GetFunctionResponse. Code.Location is filled in by the edge,
// which knows the URL it serves code from.
type GetFunctionOutput struct {
	Configuration *FunctionConfiguration `json:"Configuration"`
	Code          *FunctionCodeLocation  `json:"Code"`
	Tags          map[string]string      `json:"Tags,omitempty"`
	Concurrency   *Concurrency           `json:"Concurrency,omitempty"`
}

// ListFunctionsOutput is ListFunctionsResponse (and ListVersionsByFunctionResponse
// with Versions in place of Functions; the edge renames).
type ListFunctionsOutput struct {
	Functions  []*FunctionConfiguration `json:"Functions"`
	NextMarker string                   `json:"NextMarker,omitempty"`
}

// ListVersionsOutput is ListVersionsByFunctionResponse.
type ListVersionsOutput struct {
	Versions   []*FunctionConfiguration `json:"Versions"`
	NextMarker string                   `json:"NextMarker,omitempty"`
}

// PublishVersionInput is PublishVersionRequest.
type PublishVersionInput struct {
	FunctionName string          `json:"-"`
	CodeSha256   string          `json:"CodeSha256"`
	Description  *string         `json:"Description"`
	RevisionId   string          `json:"RevisionId"`
	PublishTo    json.RawMessage `json:"PublishTo"`
}

// AliasRoutingConfiguration splits an alias's traffic between two versions.
type AliasRoutingConfiguration struct {
	AdditionalVersionWeights map[string]float64 `json:"AdditionalVersionWeights"`
}

// AliasConfiguration is an alias as Lambda returns it.
type AliasConfiguration struct {
	AliasArn        string                     `json:"AliasArn"`
	Name            string                     `json:"Name"`
	FunctionVersion string                     `json:"FunctionVersion"`
	Description     string                     `json:"Description"`
	RoutingConfig   *AliasRoutingConfiguration `json:"RoutingConfig,omitempty"`
	RevisionId      string                     `json:"RevisionId"`
}

// CreateAliasInput is CreateAliasRequest.
type CreateAliasInput struct {
	FunctionName    string                     `json:"-"`
	Name            string                     `json:"Name"`
	FunctionVersion string                     `json:"FunctionVersion"`
	Description     string                     `json:"Description"`
	RoutingConfig   *AliasRoutingConfiguration `json:"RoutingConfig"`
}

// UpdateAliasInput is UpdateAliasRequest.
type UpdateAliasInput struct {
	FunctionName    string                     `json:"-"`
	Name            string                     `json:"-"`
	FunctionVersion *string                    `json:"FunctionVersion"`
	Description     *string                    `json:"Description"`
	RoutingConfig   *AliasRoutingConfiguration `json:"RoutingConfig"`
	RevisionId      string                     `json:"RevisionId"`
}

// ListAliasesOutput is ListAliasesResponse.
type ListAliasesOutput struct {
	Aliases    []*AliasConfiguration `json:"Aliases"`
	NextMarker string                `json:"NextMarker,omitempty"`
}

// AccountSettings is GetAccountSettingsResponse.
type AccountSettings struct {
	AccountLimit AccountLimit `json:"AccountLimit"`
	AccountUsage AccountUsage `json:"AccountUsage"`
}

// AccountLimit is Lambda's AccountLimit.
type AccountLimit struct {
	TotalCodeSize                  int64 `json:"TotalCodeSize"`
	CodeSizeUnzipped               int64 `json:"CodeSizeUnzipped"`
	CodeSizeZipped                 int64 `json:"CodeSizeZipped"`
	ConcurrentExecutions           int   `json:"ConcurrentExecutions"`
	UnreservedConcurrentExecutions int   `json:"UnreservedConcurrentExecutions"`
}

// AccountUsage is Lambda's AccountUsage.
type AccountUsage struct {
	TotalCodeSize int64 `json:"TotalCodeSize"`
	FunctionCount int64 `json:"FunctionCount"`
}
