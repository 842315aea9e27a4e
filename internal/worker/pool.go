package worker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hearthfn/hearth/internal/errdefs"
	"github.com/hearthfn/hearth/internal/runtimes"
	"github.com/hearthfn/hearth/internal/sandbox"
)

// CodeSource fetches a zip by its hex SHA-256.
type CodeSource interface {
	Code(ctx context.Context, sha256Hex string) ([]byte, error)
}

// LogSink receives each invocation's log text.
type LogSink interface {
	Append(function, logStream string, text []byte)
}

// Config is what a Pool needs.
type Config struct {
	Driver     sandbox.Driver
	DataDir    string // scratch: code/ and runtime/ live here
	InitBinary string // host path of the static hearth-init
	Code       CodeSource
	Logs       LogSink // nil: logs are only returned to callers
	Region     string
	// Endpoint is the URL of Hearth's API as envs reach it ("" when they cannot):
	// their AWS_ENDPOINT_URL_LAMBDA and AWS_ENDPOINT_URL_STS, unless the function
	// sets its own.
	Endpoint string
	// Credentials mints an env's execution-role credentials when it starts; nil
	// gives envs none. An env is retired before its credentials expire (see
	// retireAt): environment variables cannot change in a running runtime, so on
	// Lambda as here a fresh env is how credentials rotate.
	Credentials func(function, role string) (Credentials, error)
	// MaxEnvs and MaxMemoryMB cap what this host runs at once; past them an invoke
	// that needs a new env gets TooManyRequestsException (after idle envs of other
	// functions are evicted to make room).
	MaxEnvs     int
	MaxMemoryMB int
	// ScalingRate is how many new on-demand envs each function may get per 10
	// seconds (scaling.go); 0 means DefaultScalingRate, negative no limit.
	ScalingRate int
	// IdleTTL reaps an env that served nothing for this long.
	IdleTTL time.Duration
	// FreezeAfter freezes an env idle for this long (negative: never). Freezing at
	// once would put a freeze and a thaw on every warm invoke; a short grace keeps
	// back-to-back invokes hot and still stops idle code from running.
	FreezeAfter time.Duration
	Logger      *slog.Logger
}

// Credentials are an env's temporary credentials for its execution role.
type Credentials struct {
	AccessKeyID, SecretAccessKey, SessionToken string
	Expiration                                 time.Time
}

// Version is what shapes an execution environment.
type Version struct {
	FunctionName string
	FunctionArn  string // as invoked, passed to the runtime
	Version      string
	Runtime      string
	Handler      string
	MemoryMB     int
	TimeoutSec   int
	EphemeralMB  int
	Environment  map[string]string
	Role         string // the execution role's ARN
	CodeKey      string
	ConfigID     string
}

// Request is one invocation.
type Request struct {
	RequestID     string
	Payload       []byte
	ClientContext string
	TraceID       string
}

// Result is what an invocation produced. A function error is a Result with
// FunctionError set, not an error.
type Result struct {
	Payload         []byte
	FunctionError   string // "Unhandled" when the function (or its runtime) failed
	Log             []byte // the last TailBytes of this invocation's log (START … REPORT)
	ExecutedVersion string
	ColdStart       bool
	InitDuration    time.Duration
	Duration        time.Duration
	MaxMemoryUsedMB int
}

// Pool runs envs for every function version on this host.
type Pool struct {
	cfg      Config
	log      *slog.Logger
	code     *codeCache
	runtimes *runtimeDirs

	mu   sync.Mutex
	idle map[string][]*env // on-demand envs by ConfigID; most recently used last
	envs map[string]*env   // every live env by id
	// Provisioned concurrency (provision.go): the configs this host keeps envs
	// for, by id, and their idle envs by ConfigID, apart from idle so that neither
	// the idle TTL nor another function's eviction ever takes them.
	provs    map[string]*provision
	provIdle map[string][]*env
	scaling  map[string]*scaleBucket // by function name (scaling.go)
	usedMB   int
	current  map[string]string // FunctionName:Version → newest ConfigID seen
	closed   bool

	stopReaper chan struct{}
}

// New prepares the pool's directories and starts its reaper.
func New(cfg Config) (*Pool, error) {
	if cfg.Driver == nil || cfg.Code == nil {
		return nil, errors.New("worker: a driver and a code source are required")
	}
	if cfg.MaxEnvs <= 0 {
		cfg.MaxEnvs = 256
	}
	if cfg.MaxMemoryMB <= 0 {
		cfg.MaxMemoryMB = defaultMemoryBudgetMB()
	}
	if cfg.ScalingRate == 0 {
		cfg.ScalingRate = DefaultScalingRate
	}
	if cfg.IdleTTL <= 0 {
		cfg.IdleTTL = 10 * time.Minute
	}
	if cfg.FreezeAfter == 0 {
		cfg.FreezeAfter = 100 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	// Code and runtimes are for the sandboxes, not for the host's other users: the
	// worker's directory is root's alone. Sandboxes reach them through bind mounts,
	// which drivers make as root, so nothing inside needs to traverse the host path.
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, err
	}
	if err := os.Chmod(cfg.DataDir, 0o700); err != nil {
		return nil, err
	}
	codeDir, rtDir := filepath.Join(cfg.DataDir, "code"), filepath.Join(cfg.DataDir, "runtime")
	for _, d := range []string{codeDir, rtDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	p := &Pool{
		cfg:        cfg,
		log:        cfg.Logger,
		code:       &codeCache{dir: codeDir, source: cfg.Code, flight: map[string]*sync.Mutex{}},
		runtimes:   newRuntimeDirs(rtDir, cfg.InitBinary, cfg.Logger),
		idle:       map[string][]*env{},
		envs:       map[string]*env{},
		provs:      map[string]*provision{},
		provIdle:   map[string][]*env{},
		scaling:    map[string]*scaleBucket{},
		current:    map[string]string{},
		stopReaper: make(chan struct{}),
	}
	go p.reap()
	// Python runs the runtime client as bytecode the host's interpreter compiles once
	// per process (runtimes.Lookup). Done by the first cold start, it held up every
	// start of a first burst (0.2-0.3 s measured with ten at once); do it now.
	go runtimes.Lookup("python3.12")
	return p, nil
}

// Stats is a snapshot of the pool.
type Stats struct {
	Envs, Idle, Busy, Frozen int
	UsedMemoryMB             int
}

// Stats reports the pool's envs.
func (p *Pool) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := Stats{Envs: len(p.envs), UsedMemoryMB: p.usedMB}
	for _, e := range p.envs {
		e.mu.Lock()
		switch e.st {
		case stateIdle, stateFreezing:
			s.Idle++
		case stateBusy, stateStarting:
			s.Busy++
		case stateFrozen:
			s.Frozen++
		}
		e.mu.Unlock()
	}
	return s
}

// Invoke runs one invocation on a warm env of v, or a new one.
func (p *Pool) Invoke(ctx context.Context, v *Version, req *Request) (*Result, error) {
	e, cold, err := p.acquire(ctx, v)
	if err != nil {
		return nil, err
	}
	res := p.run(ctx, e, v, req)
	res.ColdStart = cold
	p.release(e)
	return res, nil
}

// acquire returns an env for v: the most recently used idle one, else a new one.
func (p *Pool) acquire(ctx context.Context, v *Version) (*env, bool, error) {
	fv := v.FunctionName + ":" + v.Version
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, false, errdefs.New(errdefs.ErrService, "the worker is shutting down")
	}
	var drained []*env
	if old, ok := p.current[fv]; ok && old != v.ConfigID {
		// New code or configuration: the old config's idle envs go now, busy ones
		// when they finish.
		drained = p.idle[old]
		delete(p.idle, old)
	}
	p.current[fv] = v.ConfigID
	for _, e := range drained {
		p.forgetLocked(e)
	}
	for {
		e, wake, stale := p.popIdleLocked(p.idle, v.ConfigID, time.Now().Add(time.Duration(v.TimeoutSec)*time.Second))
		if e == nil {
			for _, x := range stale {
				go x.shutdown()
			}
			break
		}
		p.mu.Unlock()
		for _, d := range drained {
			go d.kill()
		}
		drained = nil
		for _, x := range stale {
			go x.shutdown()
		}
		if err := wake(ctx); err != nil {
			p.discard(e)
			p.mu.Lock()
			continue
		}
		return e, false, nil
	}
	// A new env: within the function's scaling rate and the host's caps.
	if err := p.scaleUpLocked(v.FunctionName, time.Now()); err != nil {
		p.mu.Unlock()
		for _, d := range drained {
			go d.kill()
		}
		return nil, false, err
	}
	victims, err := p.makeRoomLocked(v.MemoryMB, true)
	drained = append(drained, victims...)
	if err != nil {
		p.mu.Unlock()
		for _, d := range drained {
			go d.kill()
		}
		return nil, false, err
	}
	e := &env{
		id:        newID(),
		key:       v.ConfigID,
		fnVersion: fv,
		codeKey:   v.CodeKey,
		memMB:     v.MemoryMB,
		st:        stateStarting,
		booted:    make(chan struct{}),
	}
	p.envs[e.id] = e
	p.usedMB += e.memMB
	p.mu.Unlock()
	for _, d := range drained {
		go d.kill()
	}
	if err := p.start(ctx, e, v); err != nil {
		p.mu.Lock()
		p.forgetLocked(e)
		p.mu.Unlock()
		return nil, false, err
	}
	return e, true, nil
}

// popIdleLocked takes the most recently used idle env of key off lists and marks it
// busy; wake, called without the pool's lock, waits out a freeze under way and
// thaws it. Envs found dead, or whose credentials would expire before until, come
// off the books on the way and are returned for the caller to stop once it has let
// go of the lock. Nil when no idle env is left.
func (p *Pool) popIdleLocked(lists map[string][]*env, key string, until time.Time) (e *env, wake func(context.Context) error, stale []*env) {
	for {
		list := lists[key]
		if len(list) == 0 {
			return nil, nil, stale
		}
		e := list[len(list)-1]
		lists[key] = list[:len(list)-1]
		if e.gone() || e.expiresBefore(until) {
			// Its runtime or sandbox ended while it sat idle (Lambda would not hand
			// the next invocation to a dead env either), or its credentials would
			// expire during the invocation: a new env, with new ones.
			p.forgetLocked(e)
			stale = append(stale, e)
			continue
		}
		e.mu.Lock()
		if e.freezeT != nil {
			e.freezeT.Stop()
		}
		wasFrozen := e.st == stateFrozen
		freezing := e.freezing // a freeze under way: wait for it, then thaw if it froze
		err := e.setState(stateBusy)
		e.mu.Unlock()
		if err != nil {
			continue // died while idle; the reaper or its reader removes it
		}
		return e, func(ctx context.Context) error {
			if freezing != nil {
				<-freezing
				e.mu.Lock()
				wasFrozen, e.frozen = e.frozen, false
				e.mu.Unlock()
			}
			if wasFrozen {
				return e.sb.Thaw(ctx)
			}
			return nil
		}, stale
	}
}

// forgetLocked removes e from the pool's books (not from the host: call kill).
func (p *Pool) forgetLocked(e *env) {
	if _, ok := p.envs[e.id]; !ok {
		return
	}
	delete(p.envs, e.id)
	p.usedMB -= e.memMB
	lists := p.idle
	if e.prov != nil {
		lists = p.provIdle
		if e.prov.envs[e] {
			delete(e.prov.envs, e)
			e.prov.kickLocked() // a replacement
		}
	}
	list := lists[e.key]
	for i, x := range list {
		if x == e {
			lists[e.key] = append(list[:i], list[i+1:]...)
			break
		}
	}
}

// discard removes e from the pool and kills it.
func (p *Pool) discard(e *env) {
	p.mu.Lock()
	p.forgetLocked(e)
	p.mu.Unlock()
	e.kill()
}

// release returns e to the idle list, or discards it if it died or its config was
// replaced.
func (p *Pool) release(e *env) {
	e.mu.Lock()
	dead := e.st == stateDead
	e.mu.Unlock()
	p.mu.Lock()
	lists := p.idle
	if e.prov != nil {
		// A provisioned env goes back to its config's idle list while the config
		// still counts it (not released, re-pointed or scaled down meanwhile).
		lists = p.provIdle
		if !e.prov.envs[e] || e.prov.v.ConfigID != e.key {
			dead = true
		}
	} else if p.current[e.fnVersion] != e.key {
		dead = true
	}
	if dead || p.closed {
		p.mu.Unlock()
		p.discard(e)
		return
	}
	e.mu.Lock()
	_ = e.setState(stateIdle)
	e.lastUsed = time.Now()
	if p.cfg.FreezeAfter > 0 {
		if e.freezeT == nil {
			e.freezeT = time.AfterFunc(p.cfg.FreezeAfter, func() { p.freeze(e) })
		} else {
			e.freezeT.Reset(p.cfg.FreezeAfter)
		}
	}
	e.mu.Unlock()
	lists[e.key] = append(lists[e.key], e)
	p.mu.Unlock()
}

// Shutdown stops every env.
func (p *Pool) Shutdown(ctx context.Context) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	close(p.stopReaper)
	all := make([]*env, 0, len(p.envs))
	for _, e := range p.envs {
		all = append(all, e)
	}
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, e := range all {
		wg.Add(1)
		go func() { defer wg.Done(); e.shutdown() }()
	}
	wg.Wait()
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
