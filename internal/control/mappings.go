package control

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hearthfn/hearth/internal/errdefs"
	"github.com/hearthfn/hearth/internal/esm/filter"
	"github.com/hearthfn/hearth/internal/store"
)

// Event source mappings: Lambda polling one of Hearth's SQS queues and invoking a
// function with batches. The registry keeps the records; internal/esm polls.
//
// Layout in the bucket hearth_mappings:
//
//	m.UUID        mappingRecord
//	p.HASH        "UUID MILLIS": the mapping between one queue and one function
//	              (HASH = SHA-256 of queue ARN + function name + qualifier) and
//	              when it was claimed (Unix milliseconds)
//
// Lambda allows one mapping per queue and function. The pair key is created (a
// compare-and-set) before the mapping's own record, so two creates racing on any
// nodes cannot both win; a crash between the two leaves a pair key naming a UUID
// that does not exist, which a create of that pair takes over once the claim is
// older than pairClaimGrace (a younger one is a create still writing its record).

// SQS's limits of a mapping (the model's bounds are wider, for streams).
const (
	DefaultSQSBatchSize    = 10
	MaxSQSBatchSize        = 10000
	MaxBatchingWindow      = 300
	MaxMappingFilters      = 5
	MaxMappingListItems    = 10000
	defaultMappingListSize = 100
	// ReportBatchItemFailures is the only FunctionResponseType.
	ReportBatchItemFailures = "ReportBatchItemFailures"
)

// Mapping states, Lambda's words. Records hold Enabled or Disabled; the others are
// what a create, update or delete answers while the pollers take the change in.
const (
	MappingCreating  = "Creating"
	MappingEnabled   = "Enabled"
	MappingEnabling  = "Enabling"
	MappingDisabling = "Disabling"
	MappingDisabled  = "Disabled"
	MappingUpdating  = "Updating"
	MappingDeleting  = "Deleting"
)

// FilterCriteria is a mapping's event filters.
type FilterCriteria struct {
	Filters []Filter `json:"Filters"`
}

// Filter is one event pattern.
type Filter struct {
	Pattern string `json:"Pattern"`
}

// ScalingConfig bounds how many invocations a mapping runs at once.
type ScalingConfig struct {
	MaximumConcurrency *int `json:"MaximumConcurrency,omitempty"`
}

// EventSourceMappingInput is CreateEventSourceMapping's and UpdateEventSourceMapping's
// body. Members that only streams, Kafka, MQ or DocumentDB take are raw, so they can
// be refused by name.
type EventSourceMappingInput struct {
	EventSourceArn                 *string           `json:"EventSourceArn"`
	FunctionName                   *string           `json:"FunctionName"`
	Enabled                        *bool             `json:"Enabled"`
	BatchSize                      *int              `json:"BatchSize"`
	MaximumBatchingWindowInSeconds *int              `json:"MaximumBatchingWindowInSeconds"`
	FunctionResponseTypes          *[]string         `json:"FunctionResponseTypes"`
	FilterCriteria                 *FilterCriteria   `json:"FilterCriteria"`
	ScalingConfig                  *ScalingConfig    `json:"ScalingConfig"`
	StartingPosition               *string           `json:"StartingPosition"`
	StartingPositionTimestamp      json.RawMessage   `json:"StartingPositionTimestamp"`
	Tags                           map[string]string `json:"Tags"`

	DestinationConfig                   json.RawMessage `json:"DestinationConfig"`
	MaximumRecordAgeInSeconds           json.RawMessage `json:"MaximumRecordAgeInSeconds"`
	MaximumRetryAttempts                json.RawMessage `json:"MaximumRetryAttempts"`
	BisectBatchOnFunctionError          json.RawMessage `json:"BisectBatchOnFunctionError"`
	ParallelizationFactor               json.RawMessage `json:"ParallelizationFactor"`
	TumblingWindowInSeconds             json.RawMessage `json:"TumblingWindowInSeconds"`
	Topics                              json.RawMessage `json:"Topics"`
	Queues                              json.RawMessage `json:"Queues"`
	SourceAccessConfigurations          json.RawMessage `json:"SourceAccessConfigurations"`
	SelfManagedEventSource              json.RawMessage `json:"SelfManagedEventSource"`
	SelfManagedKafkaEventSourceConfig   json.RawMessage `json:"SelfManagedKafkaEventSourceConfig"`
	AmazonManagedKafkaEventSourceConfig json.RawMessage `json:"AmazonManagedKafkaEventSourceConfig"`
	DocumentDBEventSourceConfig         json.RawMessage `json:"DocumentDBEventSourceConfig"`
	KMSKeyArn                           json.RawMessage `json:"KMSKeyArn"`
	MetricsConfig                       json.RawMessage `json:"MetricsConfig"`
	LoggingConfig                       json.RawMessage `json:"LoggingConfig"`
	ProvisionedPollerConfig             json.RawMessage `json:"ProvisionedPollerConfig"`
}

// EventSourceMappingConfiguration is Lambda's answer for a mapping (SQS members).
type EventSourceMappingConfiguration struct {
	UUID                           string          `json:"UUID"`
	BatchSize                      int             `json:"BatchSize"`
	MaximumBatchingWindowInSeconds int             `json:"MaximumBatchingWindowInSeconds"`
	EventSourceArn                 string          `json:"EventSourceArn"`
	FilterCriteria                 *FilterCriteria `json:"FilterCriteria,omitempty"`
	FunctionArn                    string          `json:"FunctionArn"`
	// LastModified is epoch seconds: the model's timestamp, which the JSON protocol
	// sends as a number (unlike FunctionConfiguration's string).
	LastModified          float64        `json:"LastModified"`
	State                 string         `json:"State"`
	StateTransitionReason string         `json:"StateTransitionReason"`
	FunctionResponseTypes []string       `json:"FunctionResponseTypes"`
	ScalingConfig         *ScalingConfig `json:"ScalingConfig,omitempty"`
	EventSourceMappingArn string         `json:"EventSourceMappingArn"`
}

// ListEventSourceMappingsOutput is one page.
type ListEventSourceMappingsOutput struct {
	EventSourceMappings []*EventSourceMappingConfiguration `json:"EventSourceMappings"`
	NextMarker          string                             `json:"NextMarker,omitempty"`
}

// mappingRecord is the stored mapping.
type mappingRecord struct {
	UUID                  string            `json:"uuid"`
	FunctionName          string            `json:"function"`
	Qualifier             string            `json:"qualifier,omitempty"`
	EventSourceArn        string            `json:"source"`
	BatchSize             int               `json:"batchSize"`
	BatchingWindow        int               `json:"window"`
	FunctionResponseTypes []string          `json:"responseTypes,omitempty"`
	MaximumConcurrency    int               `json:"maxConcurrency,omitempty"`
	Filters               []string          `json:"filters,omitempty"`
	Enabled               bool              `json:"enabled"`
	LastModified          time.Time         `json:"modified"`
	Tags                  map[string]string `json:"tags,omitempty"`
}

func mappingKey(uuid string) string { return "m." + uuid }

func pairKey(source, function, qualifier string) string {
	sum := sha256.Sum256([]byte(source + "\x00" + function + "\x00" + qualifier))
	return "p." + hex.EncodeToString(sum[:16])
}

// EventSourceMappingArn is arn:aws:lambda:REGION:ACCOUNT:event-source-mapping:UUID.
func (s *Service) EventSourceMappingArn(uuid string) string {
	return "arn:aws:lambda:" + s.region + ":" + s.account + ":event-source-mapping:" + uuid
}

func mappingNotFound() error {
	return errdefs.New(errdefs.ErrNotFound, "The resource you requested does not exist.")
}

func (s *Service) loadMapping(uuid string) (*mappingRecord, uint64, error) {
	if uuid == "" || len(uuid) > 64 || strings.ContainsAny(uuid, ".*> ") {
		return nil, 0, mappingNotFound()
	}
	e, ok := s.st.Mappings.Get(mappingKey(uuid))
	if !ok {
		return nil, 0, mappingNotFound()
	}
	return decodeMapping(e)
}

func decodeMapping(e store.Entry) (*mappingRecord, uint64, error) {
	var rec mappingRecord
	if err := json.Unmarshal(e.Value, &rec); err != nil {
		return nil, 0, fmt.Errorf("%w: corrupt event source mapping record: %v", errdefs.ErrService, err)
	}
	return &rec, e.Revision, nil
}

func (s *Service) renderMapping(rec *mappingRecord, state string) *EventSourceMappingConfiguration {
	out := &EventSourceMappingConfiguration{
		UUID:                           rec.UUID,
		BatchSize:                      rec.BatchSize,
		MaximumBatchingWindowInSeconds: rec.BatchingWindow,
		EventSourceArn:                 rec.EventSourceArn,
		FunctionArn:                    s.FunctionArn(rec.FunctionName),
		LastModified:                   float64(rec.LastModified.UnixMilli()) / 1000,
		State:                          state,
		StateTransitionReason:          "USER_INITIATED",
		FunctionResponseTypes:          append([]string{}, rec.FunctionResponseTypes...),
		EventSourceMappingArn:          s.EventSourceMappingArn(rec.UUID),
	}
	if rec.Qualifier != "" {
		out.FunctionArn = s.QualifiedArn(rec.FunctionName, rec.Qualifier)
	}
	if out.State == "" {
		out.State = MappingDisabled
		if rec.Enabled {
			out.State = MappingEnabled
		}
	}
	if len(rec.Filters) > 0 {
		out.FilterCriteria = &FilterCriteria{}
		for _, p := range rec.Filters {
			out.FilterCriteria.Filters = append(out.FilterCriteria.Filters, Filter{Pattern: p})
		}
	}
	if rec.MaximumConcurrency > 0 {
		n := rec.MaximumConcurrency
		out.ScalingConfig = &ScalingConfig{MaximumConcurrency: &n}
	}
	return out
}

// eventSourceArnPattern is the model's Arn, the shape of EventSourceArn.
const eventSourceArnPattern = `arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\-])+:([a-z]{2}(-gov)?-[a-z]+-\d{1})?:(\d{12})?:(.*)`

var reEventSourceArn = regexp.MustCompile(`^(?:` + eventSourceArnPattern + `)$`)

// rawSet reports whether a member kept raw was given a value.
func rawSet(r json.RawMessage) bool {
	v := strings.TrimSpace(string(r))
	return v != "" && v != "null"
}

// checkMappingSource classifies an event source ARN: Hearth polls its own SQS queues
// only. Requests for other sources get the answers AWS gives before it looks at the
// stream or cluster (a missing StartingPosition, missing credentials), so a tool
// probing its configuration sees AWS's errors; valid ones are refused by name.
func (s *Service) checkMappingSource(in *EventSourceMappingInput) (string, error) {
	if in.EventSourceArn == nil || *in.EventSourceArn == "" {
		if rawSet(in.SelfManagedEventSource) {
			if !rawSet(in.SourceAccessConfigurations) {
				return "", errdefs.New(errdefs.ErrInvalidParameter, "Required 'sourceAccessConfigurations' parameter is missing.")
			}
			return "", errdefs.New(errdefs.ErrInvalidParameter, "Hearth polls only its own SQS queues; self-managed Apache Kafka event sources are not supported.")
		}
		return "", errdefs.New(errdefs.ErrInvalidParameter, "Unrecognized event source.")
	}
	arn := *in.EventSourceArn
	service := strings.SplitN(arn, ":", 4)[2] // the pattern was checked with the model's
	switch service {
	case "sqs":
		return arn, nil
	case "kinesis", "dynamodb":
		// AWS's text, with its trailing period and InvalidParameterValueException: a
		// check of the stream sources, not the model's (where the member is optional).
		if in.StartingPosition == nil {
			return "", errdefs.New(errdefs.ErrInvalidParameter, "1 validation error detected: Value null at 'startingPosition' failed to satisfy constraint: Member must not be null.")
		}
		if service == "dynamodb" && *in.StartingPosition == "AT_TIMESTAMP" {
			return "", errdefs.New(errdefs.ErrInvalidParameter, "Unsupported starting position for arn type: %s", arn)
		}
		if err := checkFilterPatterns(in.FilterCriteria); err != nil {
			return "", err
		}
	case "kafka", "mq", "rds", "docdb-elastic":
	default:
		return "", errdefs.New(errdefs.ErrInvalidParameter, "Unrecognized event source.")
	}
	return "", errdefs.New(errdefs.ErrInvalidParameter, "Hearth polls only its own SQS queues; %s event sources are not supported (event source %s).", service, arn)
}

// refuseNonSQS names the first member that only other kinds of source take.
func refuseNonSQS(in *EventSourceMappingInput) error {
	if in.StartingPosition != nil || rawSet(in.StartingPositionTimestamp) {
		return errdefs.New(errdefs.ErrInvalidParameter, "StartingPosition is not valid for SQS event sources.")
	}
	fields := []struct {
		name string
		raw  json.RawMessage
	}{
		{"DestinationConfig", in.DestinationConfig}, {"MaximumRecordAgeInSeconds", in.MaximumRecordAgeInSeconds},
		{"MaximumRetryAttempts", in.MaximumRetryAttempts}, {"BisectBatchOnFunctionError", in.BisectBatchOnFunctionError},
		{"ParallelizationFactor", in.ParallelizationFactor}, {"TumblingWindowInSeconds", in.TumblingWindowInSeconds},
		{"Topics", in.Topics}, {"Queues", in.Queues}, {"SourceAccessConfigurations", in.SourceAccessConfigurations},
		{"SelfManagedEventSource", in.SelfManagedEventSource}, {"SelfManagedKafkaEventSourceConfig", in.SelfManagedKafkaEventSourceConfig},
		{"AmazonManagedKafkaEventSourceConfig", in.AmazonManagedKafkaEventSourceConfig}, {"DocumentDBEventSourceConfig", in.DocumentDBEventSourceConfig},
	}
	for _, f := range fields {
		if rawSet(f.raw) {
			return errdefs.New(errdefs.ErrInvalidParameter, "Unsupported %s parameter for given event source mapping type.", f.name)
		}
	}
	// Members SQS mappings have on Lambda that Hearth cannot honour yet: refused by
	// name rather than ignored.
	for _, f := range []struct {
		name string
		raw  json.RawMessage
	}{{"KMSKeyArn", in.KMSKeyArn}, {"MetricsConfig", in.MetricsConfig}, {"LoggingConfig", in.LoggingConfig}, {"ProvisionedPollerConfig", in.ProvisionedPollerConfig}} {
		v := strings.TrimSpace(string(f.raw))
		if rawSet(f.raw) && v != `""` && v != "{}" {
			return errdefs.New(errdefs.ErrInvalidParameter, "Hearth does not support %s on event source mappings yet; remove it from the request.", f.name)
		}
	}
	return nil
}

// parseMappingInput applies the model's constraints (ValidationException) to a
// Create (create) or Update body, all violations reported together as AWS does,
// before anything is looked up, and parses the function named (nil when none).
func (s *Service) parseMappingInput(in *EventSourceMappingInput, create bool) (*FunctionRef, error) {
	var errs modelErrors
	var ref *FunctionRef
	var refErr error
	switch {
	case in.FunctionName != nil:
		var r FunctionRef
		r, refErr = s.parseRef(shapeNamespacedFunctionName, "functionName", *in.FunctionName, &errs)
		ref = &r
	case create:
		errs.addNull("functionName")
	}
	if create && in.EventSourceArn != nil {
		checkPattern(&errs, *in.EventSourceArn, "eventSourceArn", reEventSourceArn, eventSourceArnPattern)
	}
	if in.BatchSize != nil {
		checkRange(&errs, *in.BatchSize, "batchSize", 1, MaxSQSBatchSize)
	}
	if in.MaximumBatchingWindowInSeconds != nil {
		checkRange(&errs, *in.MaximumBatchingWindowInSeconds, "maximumBatchingWindowInSeconds", 0, MaxBatchingWindow)
	}
	if in.FunctionResponseTypes != nil {
		// AWS shows the whole list, as Java renders one: [A, B].
		list := "[" + strings.Join(*in.FunctionResponseTypes, ", ") + "]"
		if len(*in.FunctionResponseTypes) > 1 {
			errs.add(list, "functionResponseTypes", "Member must have length less than or equal to 1")
		}
		for _, t := range *in.FunctionResponseTypes {
			if t != ReportBatchItemFailures {
				errs.add(list, "functionResponseTypes", "Member must satisfy constraint: [Member must satisfy enum value set: [ReportBatchItemFailures], Member must not be null]")
				break
			}
		}
	}
	if in.ScalingConfig != nil && in.ScalingConfig.MaximumConcurrency != nil {
		checkRange(&errs, *in.ScalingConfig.MaximumConcurrency, "scalingConfig.maximumConcurrency", 2, 1000)
	}
	if in.StartingPosition != nil {
		checkEnum(&errs, *in.StartingPosition, "startingPosition", "LATEST", "AT_TIMESTAMP", "TRIM_HORIZON")
	}
	// Members of the stream and Kafka sources, which SQS mappings refuse later: their
	// bounds are the model's, so they are checked first, as AWS does.
	for _, m := range []struct {
		raw    json.RawMessage
		field  string
		lo, hi int
	}{
		{in.MaximumRecordAgeInSeconds, "maximumRecordAgeInSeconds", -1, 604800},
		{in.MaximumRetryAttempts, "maximumRetryAttempts", -1, 10000},
		{in.ParallelizationFactor, "parallelizationFactor", 1, 10},
		{in.TumblingWindowInSeconds, "tumblingWindowInSeconds", 0, 900},
	} {
		var n int
		if rawSet(m.raw) && json.Unmarshal(m.raw, &n) == nil {
			checkRange(&errs, n, m.field, m.lo, m.hi)
		}
	}
	if in.FilterCriteria != nil {
		for _, f := range in.FilterCriteria.Filters {
			checkMaxLength(&errs, f.Pattern, "filterCriteria.filters.member.pattern", filter.MaxPatternBytes)
		}
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	if refErr != nil {
		return nil, refErr
	}
	return ref, validateTags(in.Tags)
}

// applyMappingSettings takes the settings an input gives into rec and checks the
// combination.
func applyMappingSettings(rec *mappingRecord, in *EventSourceMappingInput) error {
	if in.BatchSize != nil {
		rec.BatchSize = *in.BatchSize
	}
	if in.MaximumBatchingWindowInSeconds != nil {
		rec.BatchingWindow = *in.MaximumBatchingWindowInSeconds
	}
	if in.FunctionResponseTypes != nil {
		rec.FunctionResponseTypes = append([]string(nil), *in.FunctionResponseTypes...)
	}
	if in.ScalingConfig != nil {
		rec.MaximumConcurrency = 0
		if in.ScalingConfig.MaximumConcurrency != nil {
			rec.MaximumConcurrency = *in.ScalingConfig.MaximumConcurrency
		}
	}
	if in.Enabled != nil {
		rec.Enabled = *in.Enabled
	}
	if in.FilterCriteria != nil {
		if len(in.FilterCriteria.Filters) > MaxMappingFilters {
			return errdefs.New(errdefs.ErrInvalidParameter, "The number of filters (%d) exceeds the limit of %d filters per event source mapping.", len(in.FilterCriteria.Filters), MaxMappingFilters)
		}
		if err := checkFilterPatterns(in.FilterCriteria); err != nil {
			return err
		}
		rec.Filters = nil
		for _, f := range in.FilterCriteria.Filters {
			rec.Filters = append(rec.Filters, f.Pattern)
		}
	}
	if strings.HasSuffix(rec.EventSourceArn, ".fifo") && rec.BatchingWindow > 0 {
		return errdefs.New(errdefs.ErrInvalidParameter, "Batching window is not supported for FIFO queues")
	}
	if rec.BatchSize > 10 && rec.BatchingWindow < 1 {
		return errdefs.New(errdefs.ErrInvalidParameter, "Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10")
	}
	return nil
}

// checkFilterPatterns answers a filter pattern that is not one as AWS does.
func checkFilterPatterns(fc *FilterCriteria) error {
	if fc == nil {
		return nil
	}
	for _, f := range fc.Filters {
		if _, err := filter.Parse(f.Pattern); err != nil {
			return errdefs.New(errdefs.ErrInvalidParameter, "Invalid filter pattern definition.")
		}
	}
	return nil
}

// mappingFunction checks that the function a mapping invokes exists. Lambda answers
// a function that does not exist with InvalidParameterValueException, not 404, here.
func (s *Service) mappingFunction(ref FunctionRef) error {
	if _, ok := s.st.Functions.Get(ref.Name); !ok {
		return errdefs.New(errdefs.ErrInvalidParameter, "Function does not exist")
	}
	if ref.Qualifier != "" && ref.Qualifier != Latest {
		if _, err := s.ResolveInvoke(context.Background(), ref.Name, ref.Qualifier); err != nil {
			if errdefs.KindOf(err) == errdefs.ErrNotFound {
				return errdefs.New(errdefs.ErrInvalidParameter, "Function does not exist")
			}
			return err
		}
	}
	return nil
}

func (s *Service) checkQueue(arn string) error {
	if s.queueExists == nil || !s.queueExists(arn) {
		return errdefs.New(errdefs.ErrInvalidParameter, "Error occurred while ReceiveMessage. SQS Error Code: AWS.SimpleQueueService.NonExistentQueue. SQS Error Message: The specified queue does not exist.")
	}
	return nil
}

func conflictMessage(source, function, uuid string) error {
	return errdefs.New(errdefs.ErrConflict, `An event source mapping with SQS arn (" %s ") and function (" %s ") already exists. Please update or delete the existing mapping with UUID %s`, source, function, uuid)
}

// pairClaimGrace is how long a pair key naming a mapping that does not exist is
// taken for a create in progress rather than one a crash left behind.
const pairClaimGrace = 30 * time.Second

func (s *Service) pairClaim(uuid string) []byte {
	return []byte(uuid + " " + strconv.FormatInt(s.now().UnixMilli(), 10))
}

// pairHolder reads a pair key's value: the UUID and when it was claimed (zero for a
// key written before claims carried the time).
func pairHolder(v []byte) (string, time.Time) {
	uuid, ms, ok := strings.Cut(string(v), " ")
	if !ok {
		return uuid, time.Time{}
	}
	n, _ := strconv.ParseInt(ms, 10, 64)
	return uuid, time.UnixMilli(n)
}

// claimPair makes the pair key name uuid, or answers the conflict with the mapping
// that holds it.
func (s *Service) claimPair(ctx context.Context, key, uuid, source, function string) error {
	for attempt := 0; attempt <= maxAttempts; attempt++ {
		_, err := s.st.Mappings.Create(ctx, key, s.pairClaim(uuid))
		if err == nil {
			return nil
		}
		if !errors.Is(err, store.ErrExists) {
			return storeError(err)
		}
		e, ok, err := s.st.Mappings.Fresh(ctx, key)
		if err != nil {
			return storeError(err)
		}
		if !ok {
			continue // deleted meanwhile: try again
		}
		holder, claimed := pairHolder(e.Value)
		if holder == uuid {
			return nil
		}
		if _, ok, err := s.st.Mappings.Fresh(ctx, mappingKey(holder)); err != nil {
			return storeError(err)
		} else if ok || s.now().Sub(claimed) < pairClaimGrace {
			// The holder's record exists, or its create is still writing it.
			return conflictMessage(source, function, holder)
		}
		// A crash left the pair key without its mapping: take it over.
		if _, err := s.st.Mappings.Update(ctx, key, s.pairClaim(uuid), e.Revision); err == nil {
			return nil
		} else if !errors.Is(err, store.ErrRevision) {
			return storeError(err)
		}
	}
	return storeError(store.ErrRevision)
}

// releasePair deletes the pair key if it still names uuid.
func (s *Service) releasePair(ctx context.Context, key, uuid string) {
	if e, ok := s.st.Mappings.Get(key); ok {
		if holder, _ := pairHolder(e.Value); holder == uuid {
			_ = s.st.Mappings.Delete(ctx, key, e.Revision)
		}
	}
}

// CreateEventSourceMapping creates a mapping from an SQS queue to a function.
func (s *Service) CreateEventSourceMapping(ctx context.Context, in *EventSourceMappingInput) (*EventSourceMappingConfiguration, error) {
	ref, err := s.parseMappingInput(in, true)
	if err != nil {
		return nil, err
	}
	// AWS's order: the source, the members that source does not take, the function,
	// and last whether the queue exists.
	source, err := s.checkMappingSource(in)
	if err != nil {
		return nil, err
	}
	if err := refuseNonSQS(in); err != nil {
		return nil, err
	}
	if err := s.mappingFunction(*ref); err != nil {
		return nil, err
	}
	if err := s.checkQueue(source); err != nil {
		return nil, err
	}
	rec := &mappingRecord{
		UUID:           newID(),
		FunctionName:   ref.Name,
		Qualifier:      ref.Qualifier,
		EventSourceArn: source,
		BatchSize:      DefaultSQSBatchSize,
		Enabled:        true,
		LastModified:   s.now(),
		Tags:           in.Tags,
	}
	if err := applyMappingSettings(rec, in); err != nil {
		return nil, err
	}
	pk := pairKey(source, ref.Name, ref.Qualifier)
	if err := s.claimPair(ctx, pk, rec.UUID, source, ref.Name); err != nil {
		return nil, err
	}
	b, _ := json.Marshal(rec)
	if _, err := s.st.Mappings.Create(ctx, mappingKey(rec.UUID), b); err != nil {
		s.releasePair(ctx, pk, rec.UUID)
		return nil, storeError(err)
	}
	return s.renderMapping(rec, MappingCreating), nil
}

// GetEventSourceMapping returns a mapping.
func (s *Service) GetEventSourceMapping(ctx context.Context, uuid string) (*EventSourceMappingConfiguration, error) {
	rec, _, err := s.loadMapping(uuid)
	if err != nil {
		return nil, err
	}
	return s.renderMapping(rec, ""), nil
}

// UpdateEventSourceMapping changes a mapping's settings, function or Enabled.
func (s *Service) UpdateEventSourceMapping(ctx context.Context, uuid string, in *EventSourceMappingInput) (*EventSourceMappingConfiguration, error) {
	ref, err := s.parseMappingInput(in, false)
	if err != nil {
		return nil, err
	}
	rec, rev, err := s.loadMapping(uuid)
	if err != nil {
		return nil, err
	}
	if in.EventSourceArn != nil {
		return nil, errdefs.New(errdefs.ErrInvalidParameter, "The event source of a mapping cannot be changed; create a new mapping.")
	}
	if len(in.Tags) > 0 {
		return nil, errdefs.New(errdefs.ErrInvalidParameter, "Tags cannot be set by UpdateEventSourceMapping; use TagResource.")
	}
	if err := refuseNonSQS(in); err != nil {
		return nil, err
	}
	if ref != nil {
		if err := s.mappingFunction(*ref); err != nil {
			return nil, err
		}
	}
	for attempt := 0; ; attempt++ {
		wasEnabled := rec.Enabled
		oldPair := pairKey(rec.EventSourceArn, rec.FunctionName, rec.Qualifier)
		newPair := oldPair
		if ref != nil && (ref.Name != rec.FunctionName || ref.Qualifier != rec.Qualifier) {
			newPair = pairKey(rec.EventSourceArn, ref.Name, ref.Qualifier)
			if err := s.claimPair(ctx, newPair, rec.UUID, rec.EventSourceArn, ref.Name); err != nil {
				return nil, err
			}
			rec.FunctionName, rec.Qualifier = ref.Name, ref.Qualifier
		}
		if err := applyMappingSettings(rec, in); err != nil {
			if newPair != oldPair {
				s.releasePair(ctx, newPair, rec.UUID)
			}
			return nil, err
		}
		rec.LastModified = s.now()
		b, _ := json.Marshal(rec)
		_, err := s.st.Mappings.Update(ctx, mappingKey(uuid), b, rev)
		if err == nil {
			if newPair != oldPair {
				s.releasePair(ctx, oldPair, rec.UUID)
			}
			state := MappingUpdating
			switch {
			case rec.Enabled && !wasEnabled:
				state = MappingEnabling
			case !rec.Enabled && wasEnabled:
				state = MappingDisabling
			}
			return s.renderMapping(rec, state), nil
		}
		if newPair != oldPair {
			s.releasePair(ctx, newPair, rec.UUID)
		}
		if !errors.Is(err, store.ErrRevision) || attempt == maxAttempts {
			return nil, storeError(err)
		}
		e, ok, ferr := s.st.Mappings.Fresh(ctx, mappingKey(uuid))
		if ferr != nil {
			return nil, storeError(ferr)
		}
		if !ok {
			return nil, mappingNotFound()
		}
		if rec, rev, err = decodeMapping(e); err != nil {
			return nil, err
		}
	}
}

// DeleteEventSourceMapping removes a mapping; the answer shows it Deleting, and the
// pollers stop as soon as they see the record gone.
func (s *Service) DeleteEventSourceMapping(ctx context.Context, uuid string) (*EventSourceMappingConfiguration, error) {
	rec, rev, err := s.loadMapping(uuid)
	if err != nil {
		return nil, err
	}
	if err := s.st.Mappings.Delete(ctx, mappingKey(uuid), rev); err != nil {
		if errors.Is(err, store.ErrRevision) {
			return s.DeleteEventSourceMapping(ctx, uuid)
		}
		return nil, storeError(err)
	}
	s.releasePair(ctx, pairKey(rec.EventSourceArn, rec.FunctionName, rec.Qualifier), uuid)
	return s.renderMapping(rec, MappingDeleting), nil
}

// ListEventSourceMappings lists mappings, optionally of one queue and/or function.
// Filters that name nothing that exists list nothing, as on Lambda.
func (s *Service) ListEventSourceMappings(ctx context.Context, source, function, marker string, maxItems int) (*ListEventSourceMappingsOutput, error) {
	// 0 is "not given" here; the edge checks a MaxItems the caller sent.
	if err := validateRange(maxItems, "maxItems", 0, MaxMappingListItems); err != nil {
		return nil, err
	}
	if maxItems == 0 {
		maxItems = defaultMappingListSize
	}
	if source != "" && !reEventSourceArn.MatchString(source) {
		return nil, validationError(source, "eventSourceArn", "Member must satisfy regular expression pattern: "+eventSourceArnPattern)
	}
	var ref *FunctionRef
	if function != "" {
		r, err := s.ParseNamespacedFunctionRef("functionName", function)
		if err != nil {
			return nil, err
		}
		ref = &r
	}
	out := &ListEventSourceMappingsOutput{EventSourceMappings: []*EventSourceMappingConfiguration{}}
	for _, key := range s.st.Mappings.Keys("m.") {
		uuid := strings.TrimPrefix(key, "m.")
		if marker != "" && uuid <= marker {
			continue
		}
		e, ok := s.st.Mappings.Get(key)
		if !ok {
			continue
		}
		rec, _, err := decodeMapping(e)
		if err != nil {
			return nil, err
		}
		if source != "" && rec.EventSourceArn != source {
			continue
		}
		if ref != nil && (rec.FunctionName != ref.Name || (ref.Qualifier != "" && rec.Qualifier != ref.Qualifier)) {
			continue
		}
		if len(out.EventSourceMappings) == maxItems {
			out.NextMarker = out.EventSourceMappings[maxItems-1].UUID
			break
		}
		out.EventSourceMappings = append(out.EventSourceMappings, s.renderMapping(rec, ""))
	}
	return out, nil
}

// Mapping is what a poller needs of one mapping.
type Mapping struct {
	UUID                    string
	FunctionName            string
	Qualifier               string
	EventSourceArn          string
	BatchSize               int
	BatchingWindow          time.Duration
	ReportBatchItemFailures bool
	MaximumConcurrency      int // 0: Lambda's default (1,000)
	Filters                 []string
	Enabled                 bool
	Revision                uint64 // changes with every update
}

// EventSourceMappings returns every mapping, as this node's mirror has them, sorted
// by UUID.
func (s *Service) EventSourceMappings() []Mapping {
	var out []Mapping
	for _, key := range s.st.Mappings.Keys("m.") {
		e, ok := s.st.Mappings.Get(key)
		if !ok {
			continue
		}
		rec, rev, err := decodeMapping(e)
		if err != nil {
			continue
		}
		m := Mapping{
			UUID: rec.UUID, FunctionName: rec.FunctionName, Qualifier: rec.Qualifier,
			EventSourceArn: rec.EventSourceArn, BatchSize: rec.BatchSize,
			BatchingWindow:     time.Duration(rec.BatchingWindow) * time.Second,
			MaximumConcurrency: rec.MaximumConcurrency, Filters: rec.Filters,
			Enabled: rec.Enabled, Revision: rev,
		}
		for _, t := range rec.FunctionResponseTypes {
			if t == ReportBatchItemFailures {
				m.ReportBatchItemFailures = true
			}
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].UUID < out[j].UUID })
	return out
}

// MappingChanges moves whenever any mapping changes (see store.Table.Changes).
func (s *Service) MappingChanges() uint64 { return s.st.Mappings.Changes() }

// FunctionExists reports whether the function is in the registry (this node's
// mirror): a mapping whose function was deleted stays, but does not invoke.
func (s *Service) FunctionExists(name string) bool {
	_, ok := s.st.Functions.Get(name)
	return ok
}

// mappingTags and setMappingTags serve TagResource/ListTags on a mapping's ARN.
func (s *Service) mappingTags(uuid string) (map[string]string, error) {
	rec, _, err := s.loadMapping(uuid)
	if err != nil {
		return nil, errdefs.New(errdefs.ErrNotFound, "Event source mapping not found: %s", s.EventSourceMappingArn(uuid))
	}
	if rec.Tags == nil {
		return map[string]string{}, nil
	}
	return rec.Tags, nil
}

func (s *Service) changeMappingTags(ctx context.Context, uuid string, change func(map[string]string) map[string]string) error {
	for attempt := 0; ; attempt++ {
		rec, rev, err := s.loadMapping(uuid)
		if err != nil {
			return errdefs.New(errdefs.ErrNotFound, "Event source mapping not found: %s", s.EventSourceMappingArn(uuid))
		}
		tags := map[string]string{}
		for k, v := range rec.Tags {
			tags[k] = v
		}
		rec.Tags = change(tags)
		if err := validateTags(rec.Tags); err != nil {
			return err
		}
		if len(rec.Tags) == 0 {
			rec.Tags = nil
		}
		b, _ := json.Marshal(rec)
		_, err = s.st.Mappings.Update(ctx, mappingKey(uuid), b, rev)
		if err == nil {
			return nil
		}
		if !errors.Is(err, store.ErrRevision) || attempt == maxAttempts {
			return storeError(err)
		}
		if _, _, err := s.st.Mappings.Fresh(ctx, mappingKey(uuid)); err != nil {
			return storeError(err)
		}
	}
}
