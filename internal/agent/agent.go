package agent

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hearthfn/hearth/internal/agentproto"
)

// Lambda's numbers and words that the worker and runtimes see.
const (
	// DefaultRuntimeAPI is where runtimes find the Runtime API when Init names none.
	DefaultRuntimeAPI = "127.0.0.1:9001"
	// DefaultInitTimeout is Lambda's init phase limit, used when Init gives none.
	DefaultInitTimeout = 10 * time.Second
	// MaxResponseSize is the largest response (or error) a runtime may post. It is
	// the value AWS Lambda enforces and names in its error message — 100 bytes over
	// 6 MiB — not the 6 MiB (6291456) that the request limit and the runtime
	// interface emulator use.
	MaxResponseSize = 6291556
	// StopGrace is how long the runtime has between SIGTERM and SIGKILL.
	StopGrace = 500 * time.Millisecond
)

// Error types and messages hearth-init reports. Lambda's own where Lambda has one.
const (
	ErrorTypeExit             = "Runtime.ExitError"
	ErrorTypeInitTimeout      = "Runtime.InitTimeout"
	ErrorTypeInvalidEntry     = "Runtime.InvalidEntrypoint"
	ErrorTypeUnknown          = "Runtime.Unknown"
	ErrorTypeResponseTooLarge = "Function.ResponseSizeTooLarge"
	// ErrorTypeProtocol is hearth's own: the worker broke the agentproto conversation.
	ErrorTypeProtocol = "Sandbox.ProtocolError"
	// errorTypeUnhandled is Lambda's word for an error the runtime did not classify.
	errorTypeUnhandled = "Unhandled"
)

// Exit codes of Run.
const (
	ExitOK       = 0 // the environment ended normally (shutdown, runtime exit, init failure)
	ExitBadInit  = 1 // the first frame was not a usable Init
	ExitProtocol = 2 // the worker broke the protocol after Init, or the stream failed
)

// Config is what an Agent needs from its process.
type Config struct {
	// In carries frames from the worker, Out frames to it (hearth-init's stdin and stdout).
	In  io.Reader
	Out io.Writer
	// Diag receives hearth-init's own diagnostics (stderr); never per request.
	Diag io.Writer
}

// Agent runs one execution environment: the Runtime API, the runtime process and
// the conversation with the worker.
type Agent struct {
	in   *bufio.Reader
	out  frameWriter
	diag *log.Logger

	// mu guards the lifecycle below. Lock order: mu, then capture.mu, then out.mu.
	mu      sync.Mutex
	state   State
	inv     *invocation // assigned and not yet answered with a Result frame
	respBuf []byte      // body buffer reused across responses; lent to the handler that claims one
	code    int         // exit code for Run once the runtime is gone

	// waiters are the wake channels of the /next calls waiting for an invocation (one
	// per connection, reused). An Invoke wakes them all: one may belong to a connection
	// the runtime gave up on, and the live one must not miss the event.
	waiters []chan struct{}

	invokeHdr agentproto.Invoke // decoded Invoke header, reused (readFrames only)

	started     time.Time // the runtime's start, for InitDone
	initTimer   *time.Timer
	initTimeout time.Duration

	logs *capture
	rt   *supervisor

	doneOnce sync.Once
	done     chan struct{}
	exitCode int
}

// New returns an Agent that has not started anything yet.
func New(cfg Config) *Agent {
	diag := cfg.Diag
	if diag == nil {
		diag = io.Discard
	}
	a := &Agent{
		in:   bufio.NewReaderSize(pollReader(cfg.In), 64<<10),
		diag: log.New(diag, "hearth-init: ", 0),
		done: make(chan struct{}),
	}
	a.out = frameWriter{w: pollWriter(cfg.Out), onError: a.streamFailed}
	return a
}

// Run reads Init, starts the environment and returns the process exit code once the
// environment has ended.
func (a *Agent) Run() int {
	// With SIGPIPE caught, a write to a worker that went away fails with EPIPE
	// instead of killing hearth-init. (Caught, not ignored: an ignored disposition
	// would be inherited by the runtime.)
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	// Signals whose default would end PID 1 and that nobody outside sends on
	// purpose: caught and logged. The function runs as another uid and cannot send
	// them; this guards against whatever else can.
	stray := make(chan os.Signal, 4)
	signal.Notify(stray, syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGALRM)
	go func() {
		for sig := range stray {
			a.diag.Printf("ignoring %v", sig)
		}
	}()
	// From the start, so a SIGTERM during Init is not fatal.
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	go a.forwardSignals(term)

	f, err := agentproto.Read(a.in)
	if err != nil {
		a.diag.Printf("reading Init: %v", err)
		return ExitBadInit
	}
	var ini agentproto.Init
	switch {
	case f.Kind != agentproto.KindInit:
		return a.badInit(fmt.Sprintf("first frame is %s, want Init", f.Kind))
	case f.Decode(&ini) != nil:
		return a.badInit(fmt.Sprintf("malformed Init header: %s", f.Header))
	case ini.Version != agentproto.Version:
		return a.badInit(fmt.Sprintf("agentproto version %d is not supported (hearth-init speaks %d)", ini.Version, agentproto.Version))
	}
	if !a.start(&ini) {
		return ExitOK
	}
	<-a.done
	return a.exitCode
}

func (a *Agent) badInit(msg string) int {
	a.diag.Print(msg)
	a.out.frame(agentproto.KindInitError, &agentproto.InitError{ErrorType: ErrorTypeProtocol, Message: msg}, nil)
	return ExitBadInit
}

// start begins the init phase. It reports false when it could not (InitError sent).
func (a *Agent) start(ini *agentproto.Init) bool {
	addr := ini.RuntimeAPI
	if addr == "" {
		addr = DefaultRuntimeAPI
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		a.out.frame(agentproto.KindInitError, &agentproto.InitError{ErrorType: ErrorTypeUnknown, Message: err.Error()}, nil)
		return false
	}
	if ini.UID < 0 || ini.GID < 0 {
		a.out.frame(agentproto.KindInitError, &agentproto.InitError{ErrorType: ErrorTypeProtocol, Message: fmt.Sprintf("Init names uid %d gid %d", ini.UID, ini.GID)}, nil)
		return false
	}
	if len(ini.Cmd) == 0 {
		a.out.frame(agentproto.KindInitError, &agentproto.InitError{ErrorType: ErrorTypeInvalidEntry, Message: "Init has no runtime command"}, nil)
		return false
	}
	var logs *capture
	var stdout, stderr *os.File
	err = asIdentity(ini.UID, ini.GID, func() (err error) {
		logs, stdout, stderr, err = newCapture(&a.out)
		return err
	})
	if err != nil {
		a.out.frame(agentproto.KindInitError, &agentproto.InitError{ErrorType: ErrorTypeUnknown, Message: err.Error()}, nil)
		return false
	}
	a.logs = logs

	go a.serve(ln)

	a.initTimeout = DefaultInitTimeout
	if ini.InitTimeoutMs > 0 {
		a.initTimeout = time.Duration(ini.InitTimeoutMs) * time.Millisecond
	}
	env := withEnv(ini.Env, "AWS_LAMBDA_RUNTIME_API", ln.Addr().String())

	// Hold mu so that an instant exit of the runtime is handled after the state is set up.
	a.mu.Lock()
	a.started = time.Now()
	rt, err := startRuntime(runtimeSpec{argv: ini.Cmd, env: env, dir: ini.Dir, stdout: stdout, stderr: stderr, uid: ini.UID, gid: ini.GID}, a.runtimeExited, a.diag)
	stdout.Close() // the runtime holds its own copies; EOF on the read ends means it and its children are gone
	stderr.Close()
	if err != nil {
		a.transition(StateExited)
		a.mu.Unlock()
		a.out.frame(agentproto.KindInitError, &agentproto.InitError{ErrorType: ErrorTypeInvalidEntry, Message: err.Error()}, nil)
		return false
	}
	a.rt = rt
	a.initTimer = time.AfterFunc(a.initTimeout, a.initTimedOut)
	a.mu.Unlock()

	go logs.run()
	go a.readFrames()
	return true
}

// withEnv appends key=value unless env already sets key.
func withEnv(env []string, key, value string) []string {
	for _, kv := range env {
		if strings.HasPrefix(kv, key) && len(kv) > len(key) && kv[len(key)] == '=' {
			return env
		}
	}
	out := make([]string, len(env), len(env)+1)
	copy(out, env)
	return append(out, key+"="+value)
}

// forwardSignals passes SIGTERM on to the runtime: whoever stops the sandbox gently
// means the function.
func (a *Agent) forwardSignals(term <-chan os.Signal) {
	for range term {
		a.mu.Lock()
		rt := a.rt
		a.mu.Unlock()
		rt.signal(syscall.SIGTERM)
	}
}

// readFrames is the worker → hearth-init half of the conversation after Init.
func (a *Agent) readFrames() {
	for {
		f, err := agentproto.Read(a.in)
		if err != nil {
			if errors.Is(err, io.EOF) {
				a.shutdown()
			} else {
				a.protocolError(err)
			}
			return
		}
		switch f.Kind {
		case agentproto.KindInvoke:
			if err := a.invoke(f); err != nil {
				a.protocolError(err)
				return
			}
		case agentproto.KindShutdown:
			a.shutdown()
			return
		default:
			a.protocolError(fmt.Errorf("unexpected %s frame", f.Kind))
			return
		}
	}
}

// invoke assigns the event to the runtime: to the /next that waits for it, or to the
// runtime's next /next.
func (a *Agent) invoke(f *agentproto.Frame) error {
	h := &a.invokeHdr
	*h = agentproto.Invoke{}
	if err := f.Decode(h); err != nil {
		return err
	}
	inv := newInvocation(h, f.Body)

	a.mu.Lock()
	defer a.mu.Unlock()
	from := a.state
	switch {
	case from == StateExited:
		// The runtime died while this Invoke was on its way; RuntimeExit already told
		// the worker, which fails the invocation itself.
		return nil
	case a.inv != nil || from == StateRunning || !a.transition(StateRunning):
		return fmt.Errorf("Invoke %s in state %s (an invocation is in flight or init has not finished)", inv.id, from)
	}
	// Output read from now on belongs to this invocation; what came before does not.
	a.logs.boundary(inv.id, nil)
	a.inv = inv
	for _, w := range a.waiters {
		select {
		case w <- struct{}{}:
		default:
		}
	}
	clear(a.waiters)
	a.waiters = a.waiters[:0]
	return nil
}

// shutdown stops the runtime (SIGTERM, StopGrace, SIGKILL); the exit ends Run.
func (a *Agent) shutdown() {
	a.mu.Lock()
	if !a.transition(StateShuttingDown) {
		a.mu.Unlock()
		return
	}
	a.stopInitTimer()
	a.mu.Unlock()
	go a.rt.stop(true, StopGrace)
	a.finishAfter(StopGrace + 2*time.Second)
}

// protocolError ends the environment: the worker and hearth-init no longer agree on
// the conversation, so nothing more on the stream can be trusted.
func (a *Agent) protocolError(err error) {
	a.diag.Printf("protocol error: %v", err)
	a.mu.Lock()
	a.code = ExitProtocol
	if a.transition(StateShuttingDown) {
		a.stopInitTimer()
	}
	a.mu.Unlock()
	a.rt.kill()
	a.finishAfter(2 * time.Second)
}

// streamFailed is called (once) when writing to the worker fails: it is gone.
func (a *Agent) streamFailed(err error) {
	a.diag.Printf("writing to the worker: %v", err)
	go a.protocolError(err)
}

// initTimedOut ends an init phase that ran past its limit.
func (a *Agent) initTimedOut() {
	a.mu.Lock()
	if a.state != StateStarted || !a.transition(StateInitError) {
		a.mu.Unlock()
		return
	}
	msg := fmt.Sprintf("Init phase timed out after %.2f seconds", a.initTimeout.Seconds())
	a.logs.boundary("", func() {
		a.out.frame(agentproto.KindInitError, &agentproto.InitError{ErrorType: ErrorTypeInitTimeout, Message: msg}, nil)
	})
	a.mu.Unlock()
	a.rt.kill()
	a.finishAfter(2 * time.Second)
}

// runtimeExited is called by the supervisor once the runtime process is reaped. It
// tells the worker what the exit means in the current state and ends Run.
func (a *Agent) runtimeExited(ws syscall.WaitStatus) {
	reason := exitReason(ws)
	a.mu.Lock()
	from := a.state
	a.transition(StateExited) // allowed from every state but Exited, and this runs once
	inv := a.inv
	a.inv = nil
	a.stopInitTimer()
	switch {
	case from == StateStarted:
		a.logs.boundary("", func() {
			a.out.frame(agentproto.KindInitError, &agentproto.InitError{ErrorType: ErrorTypeExit, Message: reason}, nil)
		})
	case from == StateInitError || from == StateShuttingDown:
		a.logs.boundary("", nil)
	default:
		if inv != nil {
			body := errorDoc("RequestId: "+inv.id+" Error: "+reason, ErrorTypeExit)
			a.logs.boundary("", func() {
				a.out.frame(agentproto.KindResult, &agentproto.Result{RequestID: inv.id, Error: true, ErrorType: ErrorTypeExit}, body)
			})
		}
		exit := agentproto.RuntimeExit{ExitCode: ws.ExitStatus(), Reason: reason}
		if ws.Signaled() {
			exit.ExitCode = -1
			exit.Signal = signalName(ws.Signal())
		}
		a.logs.boundary("", func() { a.out.frame(agentproto.KindRuntimeExit, &exit, nil) })
	}
	// Nothing follows the frame that ended the environment, not even output of the
	// runtime's orphans still running.
	a.logs.close()
	code := a.code
	a.mu.Unlock()
	a.finish(code)
}

// finishAfter ends Run after d even if the runtime is never reaped (it should be:
// this only guards against a process stuck in the kernel).
func (a *Agent) finishAfter(d time.Duration) {
	time.AfterFunc(d, func() {
		select {
		case <-a.done:
			return
		default:
		}
		a.diag.Printf("runtime not reaped %v after it was stopped; exiting anyway", d)
		a.mu.Lock()
		code := a.code
		a.mu.Unlock()
		a.finish(code)
	})
}

// transition moves the environment to state to, if the lifecycle allows it. Called
// with a.mu held.
func (a *Agent) transition(to State) bool {
	if !a.state.CanTransition(to) {
		return false
	}
	a.state = to
	return true
}

// stopInitTimer is safe before the timer exists. Called with a.mu held.
func (a *Agent) stopInitTimer() {
	if a.initTimer != nil {
		a.initTimer.Stop()
	}
}

func (a *Agent) finish(code int) {
	a.doneOnce.Do(func() {
		a.exitCode = code
		close(a.done)
	})
}

// exitReason words a runtime's end as Lambda does.
func exitReason(ws syscall.WaitStatus) string {
	switch {
	case ws.Exited() && ws.ExitStatus() == 0:
		return "Runtime exited without providing a reason"
	case ws.Exited():
		return "Runtime exited with error: exit status " + strconv.Itoa(ws.ExitStatus())
	case ws.Signaled():
		s := "Runtime exited with error: signal: " + ws.Signal().String()
		if ws.CoreDump() {
			s += " (core dumped)"
		}
		return s
	}
	return "Runtime exited with error: " + fmt.Sprintf("wait status %#x", uint32(ws))
}

// invocation is one event on its way through the runtime. The head of its /next
// response is rendered once, so serving (and re-serving) it allocates nothing.
type invocation struct {
	id   string
	body []byte
	head []byte // status line and headers, without the blank line that ends them
}

func newInvocation(h *agentproto.Invoke, body []byte) *invocation {
	head := make([]byte, 0, 256+len(h.RequestID)+len(h.FunctionArn)+len(h.TraceID)+len(h.ClientContext)+len(h.CognitoIdentity))
	head = append(head, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "...)
	head = strconv.AppendInt(head, int64(len(body)), 10)
	head = appendHeader(head, headerRequestID, h.RequestID)
	head = append(head, "\r\n"+headerDeadline+": "...)
	head = strconv.AppendInt(head, h.DeadlineMs, 10)
	head = appendHeader(head, headerFunctionArn, h.FunctionArn)
	head = appendHeader(head, headerTraceID, h.TraceID)
	head = appendHeader(head, headerClientContext, decodeClientContext(h.ClientContext))
	head = appendHeader(head, headerCognitoIdentity, h.CognitoIdentity)
	head = append(head, "\r\n"...)
	return &invocation{id: h.RequestID, body: body, head: head}
}

// appendHeader ends the previous line and adds name: value, if value is set. CR and
// LF in values become spaces: a value must not be able to add headers of its own.
func appendHeader(b []byte, name, value string) []byte {
	if value == "" {
		return b
	}
	b = append(b, "\r\n"...)
	b = append(b, name...)
	b = append(b, ": "...)
	for i := 0; i < len(value); i++ {
		ch := value[i]
		if ch == '\r' || ch == '\n' {
			ch = ' '
		}
		b = append(b, ch)
	}
	return b
}

// decodeClientContext turns the Invoke API's base64 X-Amz-Client-Context into the JSON
// that Lambda puts in Lambda-Runtime-Client-Context (runtimes json-decode the header).
func decodeClientContext(s string) string {
	if s == "" {
		return ""
	}
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return string(b)
	}
	return s
}

// frameWriter serialises frames to the worker. After the first write error it drops
// everything: the worker is gone.
type frameWriter struct {
	mu      sync.Mutex
	w       io.Writer
	err     error
	onError func(error)
}

func (fw *frameWriter) frame(kind agentproto.Kind, header any, body []byte) {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	if fw.err == nil {
		fw.fail(agentproto.Write(fw.w, kind, header, body))
	}
}

// raw writes already encoded frames in one write.
func (fw *frameWriter) raw(b []byte) {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	if fw.err == nil {
		_, err := fw.w.Write(b)
		fw.fail(err)
	}
}

func (fw *frameWriter) fail(err error) {
	if err != nil {
		fw.err = err
		if fw.onError != nil {
			fw.onError(err)
		}
	}
}

// asIdentity runs f with hearth-init's effective uid and gid set to the runtime's,
// so the capture pipes f creates belong to the runtime: `echo … >/dev/stderr`
// reopens the pipe through /proc/self/fd/2, which needs the pipe's owner, and a
// chmod of a pipe is refused under gVisor. Only the runtime's own processes can
// reach its pipes by path; hearth-init's descriptors stay out of reach (another
// uid, non-dumpable). With uid and gid 0 (tests outside a sandbox), or when
// hearth-init is not root, f runs as it is.
//
// The real and saved ids stay 0, so the permitted capabilities survive the switch
// and come back into effect with the effective uid 0. The switch applies to every
// thread (Go's Setres*id), so nothing else may run meanwhile: it happens once, in
// the init phase, before the runtime starts.
func asIdentity(uid, gid int, f func() error) error {
	if uid == 0 && gid == 0 || syscall.Geteuid() != 0 {
		return f()
	}
	if err := syscall.Setresgid(-1, gid, -1); err != nil {
		return fmt.Errorf("set effective gid %d: %w", gid, err)
	}
	if err := syscall.Setresuid(-1, uid, -1); err != nil {
		_ = syscall.Setresgid(-1, 0, -1)
		return fmt.Errorf("set effective uid %d: %w", uid, err)
	}
	ferr := f()
	if err := syscall.Setresuid(-1, 0, -1); err != nil {
		return fmt.Errorf("restore effective uid 0: %w", err)
	}
	if err := syscall.Setresgid(-1, 0, -1); err != nil {
		return fmt.Errorf("restore effective gid 0: %w", err)
	}
	// A change of effective id resets the dumpable flag to the system's default;
	// hearth-init stays out of the runtime's reach whatever that is.
	if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_DUMPABLE, 0, 0); e != 0 {
		return fmt.Errorf("PR_SET_DUMPABLE: %w", e)
	}
	return ferr
}
