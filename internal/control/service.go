package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hearthfn/hearth/internal/errdefs"
	"github.com/hearthfn/hearth/internal/store"
)

// Config is what a Service needs.
type Config struct {
	Store     *store.Store
	Region    string
	AccountID string
	// ConcurrentExecutions is the account concurrency limit (1,000 on Lambda).
	ConcurrentExecutions int
	// CheckRuntime, when set, is asked whether this host can run a runtime; create and
	// update refuse one it cannot. Nil accepts every runtime the registry knows.
	CheckRuntime func(runtime string) error
	// QueueExists says whether this Hearth serves the SQS queue with this ARN, the
	// only queues async destinations and dead-letter queues may name. Nil refuses
	// every SQS ARN (a node without the queue service).
	QueueExists func(arn string) bool
	Now         func() time.Time
}

// Service is the function registry.
type Service struct {
	st           *store.Store
	region       string
	account      string
	accountLimit int
	checkRuntime func(string) error
	queueExists  func(string) bool
	now          func() time.Time

	routes     sync.Map // functionName + "\x00" + qualifier → *invokeRoutes (see ResolveInvoke)
	routeCount atomic.Int64
	limits     atomic.Value // *limitsCache (see ConcurrencyLimits)
	asyncCache sync.Map     // functionName + "\x00" + qualifier → *asyncCached (see AsyncConfig)
	asyncCount atomic.Int64
}

// New returns a registry over st.
func New(cfg Config) *Service {
	s := &Service{
		st:           cfg.Store,
		region:       cfg.Region,
		account:      cfg.AccountID,
		accountLimit: cfg.ConcurrentExecutions,
		checkRuntime: cfg.CheckRuntime,
		queueExists:  cfg.QueueExists,
		now:          cfg.Now,
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.accountLimit <= 0 {
		s.accountLimit = 1000
	}
	return s
}

// Region is the region this registry serves.
func (s *Service) Region() string { return s.region }

// AccountID is the account this registry serves.
func (s *Service) AccountID() string { return s.account }

// maxAttempts bounds compare-and-set retries; conflicts only come from concurrent
// writers to the same key, so a handful always suffices.
const maxAttempts = 8

func notFound(name string, s *Service) error {
	return errdefs.New(errdefs.ErrNotFound, "Function not found: %s", s.FunctionArn(name))
}

// loadFunction reads a function record from the mirror.
func (s *Service) loadFunction(name string) (*functionRecord, uint64, error) {
	e, ok := s.st.Functions.Get(name)
	if !ok {
		return nil, 0, notFound(name, s)
	}
	return decodeFunction(e)
}

func decodeFunction(e store.Entry) (*functionRecord, uint64, error) {
	var rec functionRecord
	if err := json.Unmarshal(e.Value, &rec); err != nil {
		return nil, 0, fmt.Errorf("%w: corrupt function record: %v", errdefs.ErrService, err)
	}
	return &rec, e.Revision, nil
}

// mutateFunction applies change to the function's record with compare-and-set,
// re-reading and re-applying on a conflict. change sees a fresh copy each attempt and
// may refuse by returning an error.
func (s *Service) mutateFunction(ctx context.Context, name string, change func(*functionRecord) error) (*functionRecord, error) {
	rec, rev, err := s.loadFunction(name)
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		if err := change(rec); err != nil {
			return nil, err
		}
		b, _ := json.Marshal(rec)
		_, err := s.st.Functions.Update(ctx, name, b, rev)
		if err == nil {
			return rec, nil
		}
		if !errors.Is(err, store.ErrRevision) || attempt == maxAttempts {
			return nil, storeError(err)
		}
		e, ok, ferr := s.st.Functions.Fresh(ctx, name)
		if ferr != nil {
			return nil, storeError(ferr)
		}
		if !ok {
			return nil, notFound(name, s)
		}
		if rec, rev, err = decodeFunction(e); err != nil {
			return nil, err
		}
	}
}

// storeError classifies a failure of the store: a timeout is a throttle-like
// "try again", anything else is ours.
func storeError(err error) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return fmt.Errorf("%w: the state store did not answer in time: %v", errdefs.ErrService, err)
	}
	if errors.Is(err, store.ErrRevision) {
		return fmt.Errorf("%w: too many concurrent updates; retry the request", errdefs.ErrConflict)
	}
	var k *errdefs.Kind
	if errors.As(err, &k) {
		return err
	}
	return fmt.Errorf("%w: state store: %v", errdefs.ErrService, err)
}

// render turns a stored version into Lambda's FunctionConfiguration. Lambda names
// $LATEST by the unqualified ARN, except where the caller asked for a version
// explicitly (GetFunction with Qualifier=$LATEST, ListVersionsByFunction).
func (s *Service) render(name string, v *versionConfig) *FunctionConfiguration {
	return s.renderArn(name, v, false)
}

func (s *Service) renderArn(name string, v *versionConfig, qualifyLatest bool) *FunctionConfiguration {
	arn := s.FunctionArn(name)
	if v.Version != Latest || qualifyLatest {
		arn = s.QualifiedArn(name, v.Version)
	}
	c := &FunctionConfiguration{
		FunctionName:     name,
		FunctionArn:      arn,
		Runtime:          v.Runtime,
		Role:             v.Role,
		Handler:          v.Handler,
		CodeSize:         v.CodeSize,
		Description:      v.Description,
		Timeout:          v.Timeout,
		MemorySize:       v.MemorySize,
		LastModified:     lambdaTime(v.LastModified),
		CodeSha256:       v.CodeSha256,
		Version:          v.Version,
		TracingConfig:    &TracingConfig{Mode: "PassThrough"},
		RevisionId:       v.RevisionId,
		State:            "Active",
		LastUpdateStatus: "Successful",
		PackageType:      "Zip",
		Architectures:    v.Architectures,
		EphemeralStorage: &EphemeralStorage{Size: v.EphemeralMB},
		LoggingConfig:    &LoggingConfig{LogFormat: "Text", LogGroup: "/aws/lambda/" + name},
		SnapStart:        &SnapStartResponse{ApplyOn: "None", OptimizationStatus: "Off"},
		KMSKeyArn:        v.KMSKeyArn,
	}
	if v.Environment != nil {
		c.Environment = &EnvironmentResponse{Variables: v.Environment}
	}
	if v.DeadLetterArn != "" {
		arn := v.DeadLetterArn
		c.DeadLetterConfig = &DeadLetterConfig{TargetArn: &arn}
	}
	if v.Tracing != nil && v.Tracing.Mode != "" {
		c.TracingConfig = v.Tracing
	}
	if v.Logging != nil {
		l := *v.Logging
		if l.LogFormat == "" {
			l.LogFormat = "Text"
		}
		if l.LogGroup == "" {
			l.LogGroup = "/aws/lambda/" + name
		}
		c.LoggingConfig = &l
	}
	return c
}
