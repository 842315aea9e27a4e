package worker

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hearthfn/hearth/internal/agentproto"
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
	// MaxEnvs and MaxMemoryMB cap what this host runs at once; past them an invoke
	// that needs a new env gets TooManyRequestsException (after idle envs of other
	// functions are evicted to make room).
	MaxEnvs     int
	MaxMemoryMB int
	// IdleTTL reaps an env that served nothing for this long.
	IdleTTL time.Duration
	// FreezeAfter freezes an env idle for this long (negative: never). Freezing at
	// once would put a freeze and a thaw on every warm invoke; a short grace keeps
	// back-to-back invokes hot and still stops idle code from running.
	FreezeAfter time.Duration
	Logger      *slog.Logger
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

	mu      sync.Mutex
	idle    map[string][]*env // by ConfigID; most recently used last
	envs    map[string]*env   // every live env by id
	usedMB  int
	current map[string]string // FunctionName:Version → newest ConfigID seen
	closed  bool

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
		runtimes:   &runtimeDirs{dir: rtDir, initPath: cfg.InitBinary, ready: map[string]string{}},
		idle:       map[string][]*env{},
		envs:       map[string]*env{},
		current:    map[string]string{},
		stopReaper: make(chan struct{}),
	}
	go p.reap()
	return p, nil
}

// defaultMemoryBudgetMB is three quarters of the host's memory.
func defaultMemoryBudgetMB() int {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 4096
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, _ := strconv.Atoi(fields[1])
			return kb / 1024 * 3 / 4
		}
	}
	return 4096
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
		list := p.idle[v.ConfigID]
		if len(list) == 0 {
			break
		}
		e := list[len(list)-1]
		p.idle[v.ConfigID] = list[:len(list)-1]
		if e.gone() {
			// Its runtime or sandbox ended while it sat idle; Lambda would not hand
			// the next invocation to a dead env either.
			p.forgetLocked(e)
			go e.kill()
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
		p.mu.Unlock()
		for _, d := range drained {
			go d.kill()
		}
		if freezing != nil {
			<-freezing
			e.mu.Lock()
			wasFrozen, e.frozen = e.frozen, false
			e.mu.Unlock()
		}
		if wasFrozen {
			if err := e.sb.Thaw(ctx); err != nil {
				p.discard(e)
				p.mu.Lock()
				continue
			}
		}
		return e, false, nil
	}
	// A new env: make room within the host's caps, evicting idle envs of other
	// versions (least recently used first) before refusing.
	for len(p.envs) >= p.cfg.MaxEnvs || p.usedMB+v.MemoryMB > p.cfg.MaxMemoryMB {
		victim := p.lruIdleLocked()
		if victim == nil {
			envs, used := len(p.envs), p.usedMB
			p.mu.Unlock()
			for _, d := range drained {
				go d.kill()
			}
			return nil, false, errdefs.New(errdefs.ErrTooManyRequests,
				"Rate Exceeded. This Hearth host is at capacity (%d execution environments, %d of %d MB in use); retry later or raise --max-envs / --max-memory-mb.",
				envs, used, p.cfg.MaxMemoryMB)
		}
		p.forgetLocked(victim)
		drained = append(drained, victim)
	}
	e := &env{
		id:        newID(),
		key:       v.ConfigID,
		fnVersion: fv,
		codeKey:   v.CodeKey,
		memMB:     v.MemoryMB,
		st:        stateStarting,
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

// PruneCode removes unpacked code that used does not list (the code of every
// function's $LATEST and versions) once it has gone unused for a while, and the idle
// envs that run such code: no invocation can reach them again. It returns how many
// directories went, and how many unused ones wait for their envs or their grace.
func (p *Pool) PruneCode(used map[string]bool) (removed, waiting int, err error) {
	p.mu.Lock()
	var orphans []*env
	for _, list := range p.idle {
		for _, e := range list {
			if !used[e.codeKey] {
				orphans = append(orphans, e)
			}
		}
	}
	for _, e := range orphans {
		p.forgetLocked(e)
	}
	running := make(map[string]bool, len(p.envs))
	busy := 0 // busy envs of unused code: idle, and then orphans, once they finish
	for _, e := range p.envs {
		running[e.codeKey] = true
		if !used[e.codeKey] {
			busy++
		}
	}
	p.mu.Unlock()
	for _, e := range orphans {
		go e.shutdown()
	}
	removed, waiting, err = p.code.prune(func(key string) bool { return used[key] || running[key] })
	return removed, waiting + busy, err
}

// lruIdleLocked picks the least recently used idle or frozen env.
func (p *Pool) lruIdleLocked() *env {
	var victim *env
	for _, list := range p.idle {
		for _, e := range list {
			if victim == nil || e.lastUsed.Before(victim.lastUsed) {
				victim = e
			}
		}
	}
	return victim
}

// forgetLocked removes e from the pool's books (not from the host: call kill).
func (p *Pool) forgetLocked(e *env) {
	if _, ok := p.envs[e.id]; !ok {
		return
	}
	delete(p.envs, e.id)
	p.usedMB -= e.memMB
	list := p.idle[e.key]
	for i, x := range list {
		if x == e {
			p.idle[e.key] = append(list[:i], list[i+1:]...)
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
	if dead || p.closed || p.current[e.fnVersion] != e.key {
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
	p.idle[e.key] = append(p.idle[e.key], e)
	p.mu.Unlock()
}

// freeze stops an idle env's processes (cgroup freezer, runsc pause). The freeze
// itself runs with no lock held — `runsc pause` can take seconds — so an invocation
// may take the env meanwhile: it waits on e.freezing, then thaws what was frozen.
func (p *Pool) freeze(e *env) {
	e.mu.Lock()
	if e.st != stateIdle || e.setState(stateFreezing) != nil {
		e.mu.Unlock()
		return
	}
	done := make(chan struct{})
	e.freezing, e.frozen = done, false
	e.mu.Unlock()

	err := e.sb.Freeze(context.Background())

	e.mu.Lock()
	e.freezing, e.frozen = nil, err == nil
	if e.st == stateFreezing {
		next := stateFrozen
		if err != nil {
			next = stateIdle
		}
		_ = e.setState(next)
	}
	e.mu.Unlock()
	close(done)
	if err != nil {
		p.log.Warn("freeze failed", "env", e.id, "err", err)
	}
}

// reap kills envs idle for longer than IdleTTL.
func (p *Pool) reap() {
	t := time.NewTicker(min(p.cfg.IdleTTL/4, 30*time.Second))
	defer t.Stop()
	for {
		select {
		case <-p.stopReaper:
			return
		case <-t.C:
		}
		var victims []*env
		p.mu.Lock()
		for _, list := range p.idle {
			for _, e := range list {
				if time.Since(e.lastUsed) > p.cfg.IdleTTL {
					victims = append(victims, e)
				}
			}
		}
		for _, e := range victims {
			p.forgetLocked(e)
		}
		p.mu.Unlock()
		for _, e := range victims {
			e.shutdown()
		}
	}
}

// shutdown asks hearth-init to stop the runtime (its shutdown phase), then kills.
func (e *env) shutdown() {
	e.mu.Lock()
	freezing := e.freezing
	e.mu.Unlock()
	if freezing != nil {
		<-freezing
	}
	e.mu.Lock()
	frozen := e.st == stateFrozen
	e.mu.Unlock()
	if frozen {
		_ = e.sb.Thaw(context.Background())
	}
	if e.send(agentproto.KindShutdown, agentproto.Shutdown{}, nil) == nil {
		select {
		case <-e.sb.Done():
		case <-time.After(time.Second):
		}
	}
	e.kill()
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

// lambdaEnv is the runtime's environment, as Lambda sets it.
func (p *Pool) lambdaEnv(v *Version, rt runtimes.Runtime, logStream string) []string {
	envs := make(map[string]string, 24+len(v.Environment))
	for k, val := range v.Environment {
		envs[k] = val
	}
	for k, val := range map[string]string{
		"AWS_LAMBDA_FUNCTION_NAME":        v.FunctionName,
		"AWS_LAMBDA_FUNCTION_VERSION":     v.Version,
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": strconv.Itoa(v.MemoryMB),
		"AWS_LAMBDA_LOG_GROUP_NAME":       "/aws/lambda/" + v.FunctionName,
		"AWS_LAMBDA_LOG_STREAM_NAME":      logStream,
		"AWS_LAMBDA_INITIALIZATION_TYPE":  "on-demand",
		"AWS_REGION":                      p.cfg.Region,
		"AWS_DEFAULT_REGION":              p.cfg.Region,
		"AWS_EXECUTION_ENV":               "AWS_Lambda_" + v.Runtime,
		"_HANDLER":                        v.Handler,
		"LAMBDA_TASK_ROOT":                "/var/task",
		"LAMBDA_RUNTIME_DIR":              "/var/runtime",
		"AWS_LAMBDA_RUNTIME_API":          runtimeAPI,
		"TZ":                              ":UTC",
		"LANG":                            "en_US.UTF-8",
		"PATH":                            "/usr/local/bin:/usr/bin/:/bin:/opt/bin",
		"LD_LIBRARY_PATH":                 "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib",
	} {
		envs[k] = val
	}
	if rt.Family == "node" {
		envs["NODE_PATH"] = "/opt/nodejs/node_modules:/var/runtime/node_modules:/var/task"
	}
	out := make([]string, 0, len(envs))
	for k, val := range envs {
		out = append(out, k+"="+val)
	}
	sort.Strings(out)
	return out
}

const (
	runtimeAPI  = "127.0.0.1:9001"
	initTimeout = 10 * time.Second
	sandboxUID  = 993 // Lambda's sbx_user1051
)

// start boots e's sandbox and runs the init phase.
func (p *Pool) start(ctx context.Context, e *env, v *Version) error {
	rt, err := runtimes.Lookup(v.Runtime)
	if err != nil {
		return fmt.Errorf("%w: %v", errdefs.ErrInvalidParameter, err)
	}
	codeDir, err := p.code.path(ctx, v.CodeKey)
	if err != nil {
		return fmt.Errorf("%w: %v", errdefs.ErrService, err)
	}
	rtDir, err := p.runtimes.path(rt)
	if err != nil {
		return fmt.Errorf("%w: prepare runtime %s: %v", errdefs.ErrService, rt.Name, err)
	}
	// Lambda's CPU share: one vCPU at 1,769 MB, proportional below and above.
	cpus := math.Max(float64(v.MemoryMB)/1769, 0.05)
	now := time.Now().UTC()
	e.logStream = fmt.Sprintf("%04d/%02d/%02d/[%s]%s", now.Year(), now.Month(), now.Day(), v.Version, e.id)
	fn := v.FunctionName
	stream := e.logStream
	if p.cfg.Logs != nil {
		e.logSink = func(text []byte) { p.cfg.Logs.Append(fn, stream, text) }
	}
	spec := sandbox.Spec{
		ID:   "env-" + e.id[:20],
		Init: "/var/runtime/hearth-init",
		Args: []string{"hearth-init"},
		Env:  []string{"PATH=/usr/bin:/bin"},
		Mounts: []sandbox.Mount{
			{Source: codeDir, Target: "/var/task", ReadOnly: true},
			{Source: rtDir, Target: "/var/runtime", ReadOnly: true},
		},
		TmpMB:    v.EphemeralMB,
		MemoryMB: v.MemoryMB,
		CPUs:     cpus,
		Pids:     1024,
		NoFile:   1024,
		UID:      sandboxUID,
		GID:      sandboxUID,
		Stderr:   &initStderr{log: p.log, env: e.id},
	}
	if p.cfg.Driver.Capabilities().CPULimit {
		spec.CPUs = 0 // boot and init unthrottled; the quota comes at InitDone
	}
	sb, err := p.cfg.Driver.Start(ctx, spec)
	if err != nil {
		return fmt.Errorf("%w: start sandbox (%s): %v", errdefs.ErrService, p.cfg.Driver.Name(), err)
	}
	limiter, _ := sb.(sandbox.CPULimiter)
	e.sb = sb
	e.stream = sb.Stream()
	e.frames = make(chan *agentproto.Frame, 16)
	e.readerDone = make(chan struct{})
	// The init phase's output streams to the log like an invocation's; its end also
	// opens the first invocation's Tail (or, if init fails, the error's).
	initLog := newInvocationLog(e.logSink)
	e.mu.Lock()
	e.log = initLog
	e.mu.Unlock()
	takeInitLog := func() []byte {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.log = nil
		return initLog.finish()
	}
	go e.read()
	t0 := time.Now()
	err = e.send(agentproto.KindInit, agentproto.Init{
		Version:       agentproto.Version,
		Cmd:           rt.Cmd,
		Env:           p.lambdaEnv(v, rt, e.logStream),
		Dir:           "/var/task",
		RuntimeAPI:    runtimeAPI,
		InitTimeoutMs: initTimeout.Milliseconds(),
		UID:           sandboxUID,
		GID:           sandboxUID,
	}, nil)
	if err != nil {
		takeInitLog()
		e.kill()
		return fmt.Errorf("%w: send Init to hearth-init: %v", errdefs.ErrService, err)
	}
	timer := time.NewTimer(initTimeout + 2*time.Second)
	defer timer.Stop()
	for {
		select {
		case f, ok := <-e.frames:
			if !ok {
				e.kill()
				return initFailed(takeInitLog(), "Runtime.ExitError", "hearth-init exited during the init phase: "+errString(sb.Err()))
			}
			switch f.Kind {
			case agentproto.KindInitDone:
				var done agentproto.InitDone
				_ = f.Decode(&done)
				e.initTail = takeInitLog()
				e.initReport = time.Duration(done.DurationMs * float64(time.Millisecond))
				e.bootReport = time.Since(t0) - e.initReport
				if limiter != nil && spec.CPUs == 0 {
					if err := limiter.LimitCPU(ctx, cpus); err != nil {
						e.kill()
						return fmt.Errorf("%w: limit CPU: %v", errdefs.ErrService, err)
					}
				}
				return nil
			case agentproto.KindInitError:
				var ie agentproto.InitError
				_ = f.Decode(&ie)
				e.kill()
				return initFailed(takeInitLog(), ie.ErrorType, ie.Message)
			}
		case <-timer.C:
			e.kill()
			return initFailed(takeInitLog(), "Runtime.InitTimeout", fmt.Sprintf("Init phase timed out after %.2f seconds", initTimeout.Seconds()))
		case <-ctx.Done():
			takeInitLog()
			e.kill()
			return ctx.Err()
		}
	}
}

// InitError is a failed init phase: a function error (the caller gets 200 with
// X-Amz-Function-Error), not a platform error. Log is what the runtime printed
// during init, and the failure.
type InitError struct {
	ErrorType string
	Message   string
	Log       []byte
}

func (e *InitError) Error() string { return e.ErrorType + ": " + e.Message }

func initFailed(tail []byte, errType, msg string) error {
	tail = fmt.Appendf(tail, "INIT_REPORT Status: error\tError Type: %s\t%s\n", errType, msg)
	return &InitError{ErrorType: errType, Message: msg, Log: tail}
}

func errString(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// initStderr logs hearth-init's own diagnostics.
type initStderr struct {
	log *slog.Logger
	env string
}

func (w *initStderr) Write(b []byte) (int, error) {
	w.log.Warn("hearth-init", "env", w.env, "stderr", strings.TrimSpace(string(b)))
	return len(b), nil
}

// errorDoc is Lambda's function error document.
type errorDoc struct {
	ErrorMessage string   `json:"errorMessage"`
	ErrorType    string   `json:"errorType"`
	StackTrace   []string `json:"stackTrace,omitempty"`
}

func errorPayload(errType, msg string) []byte {
	b, _ := json.Marshal(errorDoc{ErrorMessage: msg, ErrorType: errType})
	return b
}
