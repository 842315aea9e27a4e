package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hearthfn/hearth/internal/errdefs"
	"github.com/hearthfn/hearth/internal/store"
)

// Asynchronous invocation's configuration: each qualifier's EventInvokeConfig (retries,
// event age, destinations) and the function's recursive loop detection. Both live in
// one settings record per function generation (asyncKey), so the async engine reads
// one mirrored entry per event and a function created again under the same name
// starts with none.

// Lambda's bounds and defaults for EventInvokeConfig.
const (
	MinRetryAttempts        = 0
	MaxRetryAttempts        = 2
	DefaultRetryAttempts    = 2
	MinEventAgeSeconds      = 60
	MaxEventAgeSeconds      = 21600
	DefaultEventAgeSeconds  = 21600
	MaxEventInvokeListItems = 50
	MaxDestinationArnLength = 350
)

// The recursive loop detection settings (the model's RecursiveLoop enum).
const (
	RecursiveLoopAllow     = "Allow"
	RecursiveLoopTerminate = "Terminate"
)

// Destination is OnSuccess and OnFailure: a destination ARN, or none.
type Destination struct {
	Destination *string `json:"Destination,omitempty"`
}

// DestinationConfig is where the records of async invocations go.
type DestinationConfig struct {
	OnSuccess *Destination `json:"OnSuccess,omitempty"`
	OnFailure *Destination `json:"OnFailure,omitempty"`
}

// EventInvokeConfigInput is Put/UpdateFunctionEventInvokeConfigRequest's body.
type EventInvokeConfigInput struct {
	MaximumRetryAttempts     *int               `json:"MaximumRetryAttempts"`
	MaximumEventAgeInSeconds *int               `json:"MaximumEventAgeInSeconds"`
	DestinationConfig        *DestinationConfig `json:"DestinationConfig"`
}

// EpochSeconds renders a time as Lambda renders EventInvokeConfig's LastModified:
// seconds since the epoch, with a fraction.
type EpochSeconds time.Time

// MarshalJSON writes seconds with millisecond precision, as a JSON number.
func (t EpochSeconds) MarshalJSON() ([]byte, error) {
	ms := time.Time(t).UnixMilli()
	return []byte(strconv.FormatFloat(float64(ms)/1000, 'f', 3, 64)), nil
}

// FunctionEventInvokeConfig is what Lambda returns for one qualifier's config. Unset
// destinations are rendered as empty objects and unset numbers are omitted, as AWS
// answers.
type FunctionEventInvokeConfig struct {
	LastModified             EpochSeconds         `json:"LastModified"`
	FunctionArn              string               `json:"FunctionArn"`
	MaximumRetryAttempts     *int                 `json:"MaximumRetryAttempts,omitempty"`
	MaximumEventAgeInSeconds *int                 `json:"MaximumEventAgeInSeconds,omitempty"`
	DestinationConfig        renderedDestinations `json:"DestinationConfig"`
	qualifier                string               // for ordering lists
}

type renderedDestinations struct {
	OnFailure Destination `json:"OnFailure"`
	OnSuccess Destination `json:"OnSuccess"`
}

// ListFunctionEventInvokeConfigsOutput is ListFunctionEventInvokeConfigsResponse.
type ListFunctionEventInvokeConfigsOutput struct {
	FunctionEventInvokeConfigs []*FunctionEventInvokeConfig `json:"FunctionEventInvokeConfigs"`
	NextMarker                 string                       `json:"NextMarker,omitempty"`
}

// FunctionRecursionConfig is Put/GetFunctionRecursionConfig's answer (and Put's body).
type FunctionRecursionConfig struct {
	RecursiveLoop *string `json:"RecursiveLoop,omitempty"`
}

// asyncRecord is one function generation's async settings.
type asyncRecord struct {
	EventInvoke   map[string]eventInvokeRecord `json:"eventInvoke,omitempty"` // by qualifier ($LATEST, version, alias)
	RecursiveLoop string                       `json:"recursiveLoop,omitempty"`
}

// eventInvokeRecord is one qualifier's EventInvokeConfig; nil numbers are unset.
type eventInvokeRecord struct {
	MaxRetry     *int   `json:"maxRetry,omitempty"`
	MaxAge       *int   `json:"maxAge,omitempty"`
	OnSuccess    string `json:"onSuccess,omitempty"`
	OnFailure    string `json:"onFailure,omitempty"`
	LastModified int64  `json:"lastModified"` // Unix milliseconds
}

// asyncKey names a function generation's async settings in the settings table. Names
// and generations are KV-key safe; qualifiers (which may be "$LATEST", a character KV
// keys refuse) stay inside the value.
func asyncKey(name, gen string) string { return "async." + name + "." + gen }

const asyncKeyPrefix = "async."

// AsyncConfig is the error handling and destinations in force for an Event invoke
// of functionName with the qualifier the caller invoked ("" = $LATEST): that
// qualifier's EventInvokeConfig, else Lambda's defaults (2 retries, 6 h).
type AsyncConfig struct {
	MaximumRetryAttempts int           // default 2
	MaximumEventAge      time.Duration // default 6 h
	OnSuccess, OnFailure string        // destination ARNs; "" = none
}

// DefaultAsyncConfig is Lambda's behaviour for a qualifier without a config.
func DefaultAsyncConfig() AsyncConfig {
	return AsyncConfig{MaximumRetryAttempts: DefaultRetryAttempts, MaximumEventAge: DefaultEventAgeSeconds * time.Second}
}

func (r eventInvokeRecord) asyncConfig() AsyncConfig {
	c := DefaultAsyncConfig()
	if r.MaxRetry != nil {
		c.MaximumRetryAttempts = *r.MaxRetry
	}
	if r.MaxAge != nil {
		c.MaximumEventAge = time.Duration(*r.MaxAge) * time.Second
	}
	c.OnSuccess, c.OnFailure = r.OnSuccess, r.OnFailure
	return c
}

// asyncCached is one AsyncConfig/RecursiveLoop answer as of a settings and functions
// change stamp.
type asyncCached struct {
	stamp [2]uint64
	cfg   AsyncConfig
	loop  string
	err   error
}

func (s *Service) asyncStamp() [2]uint64 {
	return [2]uint64{s.st.Settings.Changes(), s.st.Functions.Changes()}
}

// AsyncConfig returns the async settings in force for an Event invoke of functionName
// (a name or ARN) with qualifier. The async engine asks on every attempt, so answers
// come from the mirror and are cached until a function or setting changes.
func (s *Service) AsyncConfig(functionName, qualifier string) (AsyncConfig, error) {
	c := s.asyncLookup(functionName, qualifier)
	return c.cfg, c.err
}

// RecursiveLoop returns the function's recursive loop detection setting: "Terminate"
// unless it was set to "Allow".
func (s *Service) RecursiveLoop(functionName string) (string, error) {
	c := s.asyncLookup(functionName, "")
	if c.err != nil {
		return "", c.err
	}
	return c.loop, nil
}

func (s *Service) asyncLookup(functionName, qualifier string) *asyncCached {
	stamp := s.asyncStamp() // before reading: a change meanwhile makes the entry stale
	key := functionName + "\x00" + qualifier
	if v, ok := s.asyncCache.Load(key); ok {
		if c := v.(*asyncCached); c.stamp == stamp {
			return c
		}
	}
	c := &asyncCached{stamp: stamp, cfg: DefaultAsyncConfig(), loop: RecursiveLoopTerminate}
	c.err = func() error {
		ref, err := s.ParseFunctionRef("functionName", functionName)
		if err != nil {
			return err
		}
		q, err := resolveQualifier(ref, qualifier)
		if err != nil {
			return err
		}
		if q == "" {
			q = Latest
		}
		rec, _, err := s.loadFunction(ref.Name)
		if err != nil {
			return err
		}
		a, _, err := s.asyncSettings(rec)
		if err != nil {
			return err
		}
		if e, ok := a.EventInvoke[q]; ok {
			c.cfg = e.asyncConfig()
		}
		if a.RecursiveLoop == RecursiveLoopAllow {
			c.loop = RecursiveLoopAllow
		}
		return nil
	}()
	if s.asyncCount.Add(1) > maxCachedRoutes {
		s.asyncCache.Clear()
		s.asyncCount.Store(1)
	}
	s.asyncCache.Store(key, c)
	return c
}

// asyncSettings reads rec's async settings from the mirror (empty when none).
func (s *Service) asyncSettings(rec *functionRecord) (*asyncRecord, uint64, error) {
	e, ok := s.st.Settings.Get(asyncKey(rec.Name, rec.Gen))
	a := &asyncRecord{}
	if !ok {
		return a, 0, nil
	}
	if err := json.Unmarshal(e.Value, a); err != nil {
		return nil, 0, fmt.Errorf("%w: corrupt async settings record: %v", errdefs.ErrService, err)
	}
	return a, e.Revision, nil
}

// updateAsync applies change to rec's async settings with compare-and-set. change
// sees a fresh copy on each attempt.
func (s *Service) updateAsync(ctx context.Context, rec *functionRecord, change func(a *asyncRecord) error) error {
	key := asyncKey(rec.Name, rec.Gen)
	for attempt := 0; ; attempt++ {
		a, rev, err := s.asyncSettings(rec)
		if err != nil {
			return err
		}
		if err := change(a); err != nil {
			return err
		}
		b, _ := json.Marshal(a)
		if rev == 0 {
			_, err = s.st.Settings.Create(ctx, key, b)
		} else {
			_, err = s.st.Settings.Update(ctx, key, b, rev)
		}
		if err == nil {
			return nil
		}
		if !(errors.Is(err, store.ErrRevision) || errors.Is(err, store.ErrExists)) || attempt == maxAttempts {
			return storeError(err)
		}
		if _, _, err := s.st.Settings.Fresh(ctx, key); err != nil {
			return storeError(err)
		}
	}
}

// dropEventInvokeConfig removes qualifier q's config, when a version or alias goes.
func (s *Service) dropEventInvokeConfig(ctx context.Context, rec *functionRecord, q string) error {
	a, _, err := s.asyncSettings(rec)
	if err != nil {
		return err
	}
	if _, ok := a.EventInvoke[q]; !ok {
		return nil
	}
	return s.updateAsync(ctx, rec, func(a *asyncRecord) error {
		delete(a.EventInvoke, q)
		return nil
	})
}

// clearAsync removes a deleted function generation's async settings.
func (s *Service) clearAsync(ctx context.Context, name, gen string) {
	if _, ok := s.st.Settings.Get(asyncKey(name, gen)); ok {
		_ = s.st.Settings.Delete(ctx, asyncKey(name, gen), 0)
	}
}

// reDestinationArn is the model's DestinationArn pattern, which Lambda matches whole.
const destinationArnPattern = `$|kafka://([^.]([a-zA-Z0-9\-_.]{0,248}))|arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\-])+:((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1})?:(\d{12})?:(.*)`

var reDestinationArn = regexp.MustCompile(`^(?:` + destinationArnPattern + `)$`)

// eventInvokeRef resolves the function and qualifier of an EventInvokeConfig call:
// $LATEST when none is given. The model's violations of the name, the ?Qualifier= and
// the body of a Put or Update (in; nil for the others) are reported together first,
// as AWS does; then a Put or Update that sets nothing, before the function is looked
// up. missing renders "the function or qualifier does not exist" (Put/Update/List
// answer "The function doesn't exist.", Get/Delete that the qualifier has no config).
func (s *Service) eventInvokeRef(functionName, qualifier string, in *EventInvokeConfigInput, missing func(name, q string) error) (*functionRecord, string, error) {
	var errs modelErrors
	ref, refErr := s.parseRef(shapeNamespacedFunctionName, "functionName", functionName, &errs)
	checkQualifier(&errs, qualifier)
	if in != nil {
		checkEventInvokeInput(&errs, in)
	}
	if err := errs.err(); err != nil {
		return nil, "", err
	}
	if refErr != nil {
		return nil, "", refErr
	}
	if in != nil && in.MaximumRetryAttempts == nil && in.MaximumEventAgeInSeconds == nil && in.DestinationConfig == nil {
		return nil, "", errdefs.New(errdefs.ErrInvalidParameter, "You must specify at least one of error handling or destination setting.")
	}
	q, err := mergeQualifiers(ref, qualifier)
	if err != nil {
		return nil, "", err
	}
	if q == "" {
		q = Latest
	}
	rec, _, err := s.loadFunction(ref.Name)
	if err != nil {
		return nil, "", missing(ref.Name, q)
	}
	if !s.qualifierExists(rec, q) {
		return nil, "", missing(ref.Name, q)
	}
	return rec, q, nil
}

// qualifierExists reports whether q is $LATEST, a published version or an alias of rec.
func (s *Service) qualifierExists(rec *functionRecord, q string) bool {
	switch {
	case q == Latest:
		return true
	case reVersion.MatchString(q):
		n, _ := strconv.Atoi(q)
		_, err := s.loadVersion(rec, n)
		return err == nil
	default:
		_, err := s.loadAlias(rec, q)
		return err == nil
	}
}

func functionMissing(string, string) error {
	return errdefs.New(errdefs.ErrNotFound, "The function doesn't exist.")
}

func (s *Service) noEventInvokeConfig(name, q string) error {
	return errdefs.New(errdefs.ErrNotFound, "The function %s doesn't have an EventInvokeConfig", s.QualifiedArn(name, q))
}

// checkEventInvokeInput adds the model's violations of a Put/Update body to errs.
func checkEventInvokeInput(errs *modelErrors, in *EventInvokeConfigInput) {
	if in.MaximumRetryAttempts != nil {
		checkRange(errs, *in.MaximumRetryAttempts, "maximumRetryAttempts", MinRetryAttempts, MaxRetryAttempts)
	}
	if in.MaximumEventAgeInSeconds != nil {
		checkRange(errs, *in.MaximumEventAgeInSeconds, "maximumEventAgeInSeconds", MinEventAgeSeconds, MaxEventAgeSeconds)
	}
	if d := in.DestinationConfig; d != nil {
		for _, m := range []struct {
			field string
			dest  *Destination
		}{{"destinationConfig.onSuccess.destination", d.OnSuccess}, {"destinationConfig.onFailure.destination", d.OnFailure}} {
			if m.dest == nil || m.dest.Destination == nil {
				continue
			}
			checkPattern(errs, *m.dest.Destination, m.field, reDestinationArn, destinationArnPattern)
			checkMaxLength(errs, *m.dest.Destination, m.field, MaxDestinationArnLength)
		}
	}
}

func destinationOf(d *Destination) (string, bool) {
	if d == nil {
		return "", false
	}
	if d.Destination == nil {
		return "", true
	}
	return *d.Destination, true
}

// checkDestinations checks that Hearth can deliver to both destinations of a config
// for function rec. Lambda names both in its "invalid config" message.
func (s *Service) checkDestinations(rec *functionRecord, onSuccess, onFailure string) error {
	invalidConfig := func() error {
		part := func(kind, arn string) string {
			if arn == "" {
				return "null"
			}
			return kind + "(destination=" + arn + ")"
		}
		return errdefs.New(errdefs.ErrInvalidParameter, "The provided destination config DestinationConfig(onSuccess=%s, onFailure=%s) is invalid.", part("OnSuccess", onSuccess), part("OnFailure", onFailure))
	}
	for _, arn := range []string{onSuccess, onFailure} {
		if arn == "" {
			continue
		}
		if err := s.checkDestination(rec, arn, invalidConfig); err != nil {
			return err
		}
	}
	return nil
}

// deliverable is what Hearth can deliver async records and dead letters to.
const deliverable = "Lambda functions of this Hearth and SQS queues it serves"

func (s *Service) checkDestination(rec *functionRecord, arn string, invalidConfig func() error) error {
	invalid := func() error {
		return errdefs.New(errdefs.ErrInvalidParameter, "The destination ARN %s is invalid.", arn)
	}
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 || parts[0] != "arn" {
		return invalidConfig() // kafka:// and the like: not a destination of async invocation
	}
	service := parts[2]
	switch service {
	case "lambda":
		ref, err := s.ParseFunctionRef("destination", arn)
		if err != nil || !strings.HasPrefix(arn, "arn:aws:lambda:") || !strings.HasPrefix(parts[5], "function:") {
			return invalid()
		}
		target, _, err := s.loadFunction(ref.Name)
		if err != nil {
			return invalid()
		}
		if ref.Qualifier != "" && !s.qualifierExists(target, ref.Qualifier) {
			return invalid()
		}
		if ref.Name == rec.Name {
			return errdefs.New(errdefs.ErrInvalidParameter, "You can't specify the function as a destination for itself.")
		}
		return nil
	case "sqs":
		if !s.queueServed(arn) {
			return invalid()
		}
		return nil
	case "sns", "events", "s3":
		return errdefs.New(errdefs.ErrInvalidParameter, "Hearth cannot deliver to %s yet: the destination %s would be valid on AWS, but Hearth delivers async invocation records only to %s.", serviceName(service), arn, deliverable)
	}
	return invalidConfig()
}

// queueServed reports whether arn is an SQS queue of this region and account that
// this Hearth serves.
func (s *Service) queueServed(arn string) bool {
	parts := strings.Split(arn, ":")
	if len(parts) != 6 || parts[0] != "arn" || parts[1] != "aws" || parts[2] != "sqs" || parts[3] != s.region || parts[4] != s.account || parts[5] == "" {
		return false
	}
	return s.queueExists != nil && s.queueExists(arn)
}

func serviceName(service string) string {
	switch service {
	case "sns":
		return "SNS topics"
	case "events":
		return "EventBridge event buses"
	case "s3":
		return "S3 buckets"
	}
	return service
}

func (s *Service) renderEventInvoke(name, q string, r eventInvokeRecord) *FunctionEventInvokeConfig {
	c := &FunctionEventInvokeConfig{
		LastModified:             EpochSeconds(time.UnixMilli(r.LastModified)),
		FunctionArn:              s.QualifiedArn(name, q),
		MaximumRetryAttempts:     r.MaxRetry,
		MaximumEventAgeInSeconds: r.MaxAge,
		qualifier:                q,
	}
	if r.OnSuccess != "" {
		d := r.OnSuccess
		c.DestinationConfig.OnSuccess.Destination = &d
	}
	if r.OnFailure != "" {
		d := r.OnFailure
		c.DestinationConfig.OnFailure.Destination = &d
	}
	return c
}

// PutFunctionEventInvokeConfig sets a qualifier's config, replacing the one it had:
// settings the request leaves out are removed.
func (s *Service) PutFunctionEventInvokeConfig(ctx context.Context, functionName, qualifier string, in *EventInvokeConfigInput) (*FunctionEventInvokeConfig, error) {
	return s.setEventInvokeConfig(ctx, functionName, qualifier, in, false)
}

// UpdateFunctionEventInvokeConfig changes the settings the request names and keeps
// the rest; the qualifier must have a config already.
func (s *Service) UpdateFunctionEventInvokeConfig(ctx context.Context, functionName, qualifier string, in *EventInvokeConfigInput) (*FunctionEventInvokeConfig, error) {
	return s.setEventInvokeConfig(ctx, functionName, qualifier, in, true)
}

func (s *Service) setEventInvokeConfig(ctx context.Context, functionName, qualifier string, in *EventInvokeConfigInput, update bool) (*FunctionEventInvokeConfig, error) {
	if in == nil {
		in = &EventInvokeConfigInput{}
	}
	rec, q, err := s.eventInvokeRef(functionName, qualifier, in, functionMissing)
	if err != nil {
		return nil, err
	}
	var out eventInvokeRecord
	err = s.updateAsync(ctx, rec, func(a *asyncRecord) error {
		old, exists := a.EventInvoke[q]
		if update && !exists {
			return s.noEventInvokeConfig(rec.Name, q)
		}
		var r eventInvokeRecord
		if update {
			r = old
		}
		if in.MaximumRetryAttempts != nil || !update {
			r.MaxRetry = in.MaximumRetryAttempts
		}
		if in.MaximumEventAgeInSeconds != nil || !update {
			r.MaxAge = in.MaximumEventAgeInSeconds
		}
		if d := in.DestinationConfig; d != nil || !update {
			if d == nil {
				d = &DestinationConfig{}
			}
			// Update replaces the destinations it names; Put replaces both.
			if arn, given := destinationOf(d.OnSuccess); given || !update {
				r.OnSuccess = arn
			}
			if arn, given := destinationOf(d.OnFailure); given || !update {
				r.OnFailure = arn
			}
		}
		if err := s.checkDestinations(rec, r.OnSuccess, r.OnFailure); err != nil {
			return err
		}
		r.LastModified = s.now().UnixMilli()
		if a.EventInvoke == nil {
			a.EventInvoke = map[string]eventInvokeRecord{}
		}
		a.EventInvoke[q] = r
		out = r
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.renderEventInvoke(rec.Name, q, out), nil
}

// GetFunctionEventInvokeConfig returns a qualifier's config.
func (s *Service) GetFunctionEventInvokeConfig(ctx context.Context, functionName, qualifier string) (*FunctionEventInvokeConfig, error) {
	rec, q, err := s.eventInvokeRef(functionName, qualifier, nil, s.noEventInvokeConfig)
	if err != nil {
		return nil, err
	}
	a, _, err := s.asyncSettings(rec)
	if err != nil {
		return nil, err
	}
	r, ok := a.EventInvoke[q]
	if !ok {
		return nil, s.noEventInvokeConfig(rec.Name, q)
	}
	return s.renderEventInvoke(rec.Name, q, r), nil
}

// DeleteFunctionEventInvokeConfig removes a qualifier's config; deleting none is
// ResourceNotFoundException, as on Lambda.
func (s *Service) DeleteFunctionEventInvokeConfig(ctx context.Context, functionName, qualifier string) error {
	rec, q, err := s.eventInvokeRef(functionName, qualifier, nil, s.noEventInvokeConfig)
	if err != nil {
		return err
	}
	return s.updateAsync(ctx, rec, func(a *asyncRecord) error {
		if _, ok := a.EventInvoke[q]; !ok {
			return s.noEventInvokeConfig(rec.Name, q)
		}
		delete(a.EventInvoke, q)
		return nil
	})
}

// ListFunctionEventInvokeConfigs lists a function's configs: $LATEST, then versions
// in order, then aliases by name.
func (s *Service) ListFunctionEventInvokeConfigs(ctx context.Context, functionName, marker string, maxItems int) (*ListFunctionEventInvokeConfigsOutput, error) {
	// 0 is "not given" here; the edge checks a MaxItems the caller sent.
	if err := validateRange(maxItems, "maxItems", 0, MaxEventInvokeListItems); err != nil {
		return nil, err
	}
	ref, err := s.ParseNamespacedFunctionRef("functionName", functionName)
	if err != nil {
		return nil, err
	}
	rec, _, err := s.loadFunction(ref.Name)
	if err != nil {
		return nil, functionMissing("", "")
	}
	a, _, err := s.asyncSettings(rec)
	if err != nil {
		return nil, err
	}
	items := make([]*FunctionEventInvokeConfig, 0, len(a.EventInvoke))
	for q, r := range a.EventInvoke {
		items = append(items, s.renderEventInvoke(rec.Name, q, r))
	}
	sort.Slice(items, func(i, j int) bool { return lessKey(items[i].qualifier, items[j].qualifier) })
	page, next, err := paginate(items, marker, maxItems, func(c *FunctionEventInvokeConfig) string { return c.qualifier }, lessKey)
	if err != nil {
		return nil, err
	}
	if page == nil {
		page = []*FunctionEventInvokeConfig{}
	}
	return &ListFunctionEventInvokeConfigsOutput{FunctionEventInvokeConfigs: page, NextMarker: next}, nil
}

// unqualifiedFunctionPattern is the model's UnqualifiedFunctionName, as AWS quotes it
// today (with the "(eusc-)?" region prefix its recorded answers carry and the model
// lacks): the recursion config belongs to the function, never to a version or alias.
const (
	unqualifiedFunctionPattern   = `(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?([a-zA-Z0-9-_]+)`
	maxUnqualifiedFunctionLength = 140
)

var reUnqualifiedFunction = regexp.MustCompile(`^(?:` + unqualifiedFunctionPattern + `)$`)

// checkUnqualifiedName adds the model's violations of an UnqualifiedFunctionName to
// errs: the pattern, then the length, as AWS lists them.
func checkUnqualifiedName(errs *modelErrors, functionName string) {
	checkPattern(errs, functionName, "functionName", reUnqualifiedFunction, unqualifiedFunctionPattern)
	checkMaxLength(errs, functionName, "functionName", maxUnqualifiedFunctionLength)
}

// recursionRef looks up the function of a recursion config call whose members the
// model accepted.
func (s *Service) recursionRef(functionName string) (*functionRecord, error) {
	ref, err := s.ParseFunctionRef("functionName", functionName)
	if err != nil {
		return nil, err
	}
	rec, _, err := s.loadFunction(ref.Name)
	return rec, err
}

// PutFunctionRecursionConfig sets the function's recursive loop detection.
func (s *Service) PutFunctionRecursionConfig(ctx context.Context, functionName string, loop *string) (*FunctionRecursionConfig, error) {
	var errs modelErrors
	checkUnqualifiedName(&errs, functionName)
	if loop == nil {
		errs.addNull("recursiveLoop")
	} else {
		// AWS lists the values in this order, not the model's.
		checkEnum(&errs, *loop, "recursiveLoop", RecursiveLoopTerminate, RecursiveLoopAllow)
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	rec, err := s.recursionRef(functionName)
	if err != nil {
		return nil, err
	}
	err = s.updateAsync(ctx, rec, func(a *asyncRecord) error {
		a.RecursiveLoop = *loop
		return nil
	})
	if err != nil {
		return nil, err
	}
	v := *loop
	return &FunctionRecursionConfig{RecursiveLoop: &v}, nil
}

// GetFunctionRecursionConfig returns the function's recursive loop detection
// (Terminate unless set).
func (s *Service) GetFunctionRecursionConfig(ctx context.Context, functionName string) (*FunctionRecursionConfig, error) {
	var errs modelErrors
	checkUnqualifiedName(&errs, functionName)
	if err := errs.err(); err != nil {
		return nil, err
	}
	rec, err := s.recursionRef(functionName)
	if err != nil {
		return nil, err
	}
	a, _, err := s.asyncSettings(rec)
	if err != nil {
		return nil, err
	}
	v := RecursiveLoopTerminate
	if a.RecursiveLoop == RecursiveLoopAllow {
		v = RecursiveLoopAllow
	}
	return &FunctionRecursionConfig{RecursiveLoop: &v}, nil
}

// DeadLetterConfig is a function version's dead-letter queue.
type DeadLetterConfig struct {
	TargetArn *string `json:"TargetArn,omitempty"`
}

// resourceArnPattern is the model's ResourceArn, DeadLetterConfig.TargetArn's shape.
const resourceArnPattern = `(arn:(aws[a-zA-Z-]*)?:[a-z0-9-.]+:.*)|()`

var reResourceArn = regexp.MustCompile(`^(?:` + resourceArnPattern + `)$`)

// checkDeadLetter validates a DeadLetterConfig and returns the target to store
// ("" removes it).
func (s *Service) checkDeadLetter(d *DeadLetterConfig) (string, error) {
	if d == nil || d.TargetArn == nil || *d.TargetArn == "" {
		return "", nil
	}
	arn := *d.TargetArn
	if !reResourceArn.MatchString(arn) {
		return "", validationError(arn, "deadLetterConfig.targetArn", "Member must satisfy regular expression pattern: "+resourceArnPattern)
	}
	parts := strings.Split(arn, ":")
	switch parts[2] {
	case "sqs":
		if !s.queueServed(arn) {
			return "", errdefs.New(errdefs.ErrInvalidParameter, "The dead-letter queue %s is not a queue Hearth serves: create it in this region and account (SQS CreateQueue on this endpoint) first.", arn)
		}
		return arn, nil
	case "sns":
		return "", errdefs.New(errdefs.ErrInvalidParameter, "Hearth cannot deliver dead letters to SNS topics yet; set DeadLetterConfig.TargetArn to an SQS queue Hearth serves.")
	}
	return "", errdefs.New(errdefs.ErrInvalidParameter, "DeadLetterConfig.TargetArn must be the ARN of an SQS queue or SNS topic; %s is neither.", arn)
}
