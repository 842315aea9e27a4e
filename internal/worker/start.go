package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hearthfn/hearth/internal/agentproto"
	"github.com/hearthfn/hearth/internal/errdefs"
	"github.com/hearthfn/hearth/internal/runtimes"
	"github.com/hearthfn/hearth/internal/sandbox"
)

// A cold start: the sandbox, Lambda's environment for the runtime, the init phase.

// lambdaEnv is the runtime's environment, as Lambda sets it.
func (p *Pool) lambdaEnv(v *Version, rt runtimes.Runtime, logStream, initType string, creds *Credentials) []string {
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
		"AWS_LAMBDA_INITIALIZATION_TYPE":  initType,
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
	for _, name := range []string{"AWS_ENDPOINT_URL_LAMBDA", "AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL_SQS"} {
		if _, own := v.Environment[name]; !own && p.cfg.Endpoint != "" {
			// The service-specific endpoint variables current SDKs honour: unmodified
			// code that invokes a function, asks STS who it is or uses a queue
			// reaches Hearth.
			envs[name] = p.cfg.Endpoint
		}
	}
	if creds != nil {
		// Reserved names: a function's configuration cannot set them (control refuses).
		envs["AWS_ACCESS_KEY_ID"] = creds.AccessKeyID
		envs["AWS_SECRET_ACCESS_KEY"] = creds.SecretAccessKey
		envs["AWS_SESSION_TOKEN"] = creds.SessionToken
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

// retireMargin is how long before its credentials expire an env stops taking
// invocations (on top of the invocation's timeout): a quarter of their lifetime, at
// most 5 minutes, so code that caches a client for a while after the invocation
// is not left holding dead keys.
func retireMargin(lifetime time.Duration) time.Duration {
	return min(lifetime/4, 5*time.Minute)
}

const (
	runtimeAPI  = "127.0.0.1:9001"
	initTimeout = 10 * time.Second
	sandboxUID  = 993 // Lambda's sbx_user1051
)

// start boots e's sandbox and runs the init phase.
func (p *Pool) start(ctx context.Context, e *env, v *Version) error {
	defer e.bootDone() // a start that fails before its sandbox exists
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
	var creds *Credentials
	if p.cfg.Credentials != nil {
		c, err := p.cfg.Credentials(v.FunctionName, v.Role)
		if err != nil {
			return fmt.Errorf("%w: mint the execution role's credentials: %v", errdefs.ErrService, err)
		}
		creds = &c
		e.retireAt = c.Expiration.Add(-retireMargin(time.Until(c.Expiration)))
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
		Mounts: append([]sandbox.Mount{
			{Source: codeDir, Target: "/var/task", ReadOnly: true},
			{Source: rtDir, Target: "/var/runtime", ReadOnly: true},
		}, p.runtimes.sdkMounts(rt)...),
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
	if errors.Is(err, sandbox.ErrNoCapacity) {
		return errdefs.New(errdefs.ErrTooManyRequests, "Rate Exceeded. This Hearth host cannot start another execution environment now (%v); retry later.", err)
	}
	if err != nil {
		return fmt.Errorf("%w: start sandbox (%s): %v", errdefs.ErrService, p.cfg.Driver.Name(), err)
	}
	limiter, _ := sb.(sandbox.CPULimiter)
	e.sb = sb
	e.stream = sb.Stream()
	e.frames = make(chan *agentproto.Frame, 16)
	e.readerDone = make(chan struct{})
	e.bootDone()
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
	initType := "on-demand"
	if e.prov != nil {
		initType = "provisioned-concurrency"
	}
	go e.read()
	t0 := time.Now()
	err = e.send(agentproto.KindInit, agentproto.Init{
		Version:       agentproto.Version,
		Cmd:           rt.Cmd,
		Env:           p.lambdaEnv(v, rt, e.logStream, initType, creds),
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
				if e.prov != nil {
					// Initialised ahead, off any invocation's path: the first
					// invocation's REPORT has no Init Duration and its Tail no init
					// log, as on Lambda (the log stream has it).
					e.initTail, e.initReport = nil, 0
				}
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
