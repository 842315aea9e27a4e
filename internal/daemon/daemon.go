// Package daemon assembles a whole Hearth node — state store, function registry and
// the Lambda API — behind the embeddable lifecycle every Hearth daemon has: New,
// Start, Ready, Shutdown. cmd/hearth turns flags into a Config; tests and benchmarks
// embed it directly.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/hearthfn/hearth/internal/async"
	"github.com/hearthfn/hearth/internal/control"
	"github.com/hearthfn/hearth/internal/esm"
	"github.com/hearthfn/hearth/internal/invoke"
	"github.com/hearthfn/hearth/internal/lambdaapi"
	"github.com/hearthfn/hearth/internal/logs"
	"github.com/hearthfn/hearth/internal/runtimes"
	"github.com/hearthfn/hearth/internal/sandbox"
	"github.com/hearthfn/hearth/internal/session"
	"github.com/hearthfn/hearth/internal/sqs"
	"github.com/hearthfn/hearth/internal/sqsapi"
	"github.com/hearthfn/hearth/internal/store"
	"github.com/hearthfn/hearth/internal/worker"
)

// Config is a node's configuration.
type Config struct {
	Listen string // API address, e.g. 127.0.0.1:9060; port 0 picks a free one
	// FunctionListen, when set, serves the same API on a second address, the one
	// functions reach from their envs (the env network's gateway); FunctionEndpoint
	// is its URL, which envs get as AWS_ENDPOINT_URL_LAMBDA.
	FunctionListen, FunctionEndpoint string
	DataDir                          string
	Region                           string
	AccountID                        string
	NATSURL                          string // external NATS; empty runs the embedded server
	// NATSListen is an optional TCP address for the embedded server. Its clients must
	// give the user NATSUser and the password in NATSCredentialsFile, which Start
	// generates on first use.
	NATSListen string
	SyncAlways bool // fsync every write (survive power loss, not only crashes)
	// Credentials maps access key id → secret; see LoadCredentials.
	Credentials map[string]string
	// CredentialsTTL is how long the execution roles' temporary credentials that
	// envs get are valid; 0 = DefaultCredentialsTTL.
	CredentialsTTL time.Duration
	// ConcurrentExecutions is the account concurrency limit.
	ConcurrentExecutions int
	// Driver runs execution environments; nil makes a control-only node whose
	// Invoke answers NotImplementedException.
	Driver sandbox.Driver
	// InitBinary is the host path of the static hearth-init.
	InitBinary string
	// Worker limits; zero values take the worker's defaults.
	MaxEnvs     int
	MaxMemoryMB int
	ScalingRate int // new envs per function per 10 s; negative: no limit
	IdleTTL     time.Duration
	FreezeAfter time.Duration
	// Async is the asynchronous invocation queue's settings (internal/async);
	// zero values take its defaults, which are Lambda's.
	Async AsyncConfig
	// MaxInflightBodyBytes bounds the API's request bodies held at once; 0 takes
	// lambdaapi's default.
	MaxInflightBodyBytes int64
	// GCFirstRun is when the first garbage collection runs after start (then
	// hourly); 0 means 30 s.
	GCFirstRun time.Duration
	Logger     *slog.Logger
}

// AsyncConfig tunes the asynchronous invocation queue.
type AsyncConfig struct {
	// DelayScale multiplies retry delays and event age limits (1 = Lambda's).
	DelayScale float64
	// AckWait is how soon an attempt that lost its node is taken again.
	AckWait time.Duration
	// MaxEventsPerFunction bounds one function's stored events.
	MaxEventsPerFunction int64
}

// DefaultCredentialsTTL is how long an env's credentials are valid: AWS's longest
// role session. Envs retire before their credentials expire.
const DefaultCredentialsTTL = 12 * time.Hour

// Daemon is one running Hearth node.
type Daemon struct {
	cfg   Config
	log   *slog.Logger
	st    *store.Store
	ctl   *control.Service
	pool  *worker.Pool
	logs  *logs.Store
	inv   *invoke.Dispatcher
	async *async.Queue // nil on a control-only node
	esm   *esm.Manager // event source mappings' pollers; nil on a control-only node
	ln    net.Listener
	srv   *http.Server
	fsrv  *http.Server // the function-facing listener's (Config.FunctionListen), or nil
	ready chan struct{}
	done  chan struct{}
	stop  context.CancelFunc

	// queues is the node's SQS service (internal/sqs), served on the API's listener.
	queues *sqs.Service
}

// New checks the configuration; nothing starts until Start.
func New(cfg Config) (*Daemon, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("daemon: a data directory is required")
	}
	if len(cfg.Credentials) == 0 {
		return nil, errors.New("daemon: at least one access key is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Daemon{cfg: cfg, log: cfg.Logger, ready: make(chan struct{}), done: make(chan struct{})}, nil
}

// Start opens the store, binds the API port and serves in the background. It returns
// once the node takes requests.
func (d *Daemon) Start(ctx context.Context) error {
	scfg := store.Config{DataDir: d.cfg.DataDir, NATSURL: d.cfg.NATSURL, Listen: d.cfg.NATSListen, SyncAlways: d.cfg.SyncAlways}
	if d.cfg.NATSURL == "" && d.cfg.NATSListen != "" {
		if err := os.MkdirAll(d.cfg.DataDir, 0o700); err != nil {
			return err
		}
		pass, err := loadNATSPassword(d.cfg.DataDir)
		if err != nil {
			return fmt.Errorf("NATS credentials: %w", err)
		}
		scfg.User, scfg.Password = NATSUser, pass
	}
	st, err := store.Open(ctx, scfg)
	if err != nil {
		return err
	}
	d.st = st
	if addr := st.ListenAddr(); addr != "" {
		if err := writeNATSCredentials(d.cfg.DataDir, scfg.Password, addr); err != nil {
			st.Close()
			return fmt.Errorf("NATS credentials: %w", err)
		}
	}
	// The queues open with the store: async invocation delivers to them.
	d.queues, err = sqs.Open(ctx, sqs.Config{JetStream: st.JetStream(), Region: d.cfg.Region, AccountID: d.cfg.AccountID, Replicas: scfg.Replicas, Logger: d.log})
	if err != nil {
		st.Close()
		return err
	}
	ccfg := control.Config{
		Store:                st,
		Region:               d.cfg.Region,
		AccountID:            d.cfg.AccountID,
		ConcurrentExecutions: d.cfg.ConcurrentExecutions,
		QueueExists:          d.queueExists,
	}
	if d.cfg.Driver != nil {
		// A node that runs functions refuses, at create time, a runtime whose
		// interpreter this host does not have.
		ccfg.CheckRuntime = runtimes.Check
	}
	d.ctl = control.New(ccfg)
	key, err := loadSessionKey(d.cfg.DataDir)
	if err != nil {
		st.Close()
		return fmt.Errorf("session key: %w", err)
	}
	ttl := d.cfg.CredentialsTTL
	if ttl == 0 {
		ttl = DefaultCredentialsTTL
	}
	sessions, err := session.NewIssuer(key, d.ctl.AccountID(), ttl)
	if err != nil {
		st.Close()
		return err
	}
	bg, stop := context.WithCancel(context.Background())
	d.stop = stop
	if d.cfg.Driver != nil {
		lg, err := logs.Open(ctx, st.JetStream(), logs.Config{})
		if err != nil {
			stop()
			st.Close()
			return err
		}
		d.logs = lg
		d.pool, err = worker.New(worker.Config{
			Driver:     d.cfg.Driver,
			DataDir:    filepath.Join(d.cfg.DataDir, "worker"),
			InitBinary: d.cfg.InitBinary,
			Code:       d.ctl,
			Logs:       lg,
			Region:     d.cfg.Region,
			Endpoint:   d.cfg.FunctionEndpoint,
			Credentials: func(function, role string) (worker.Credentials, error) {
				c, err := sessions.Mint(function, role)
				return worker.Credentials(c), err
			},
			MaxEnvs:     d.cfg.MaxEnvs,
			MaxMemoryMB: d.cfg.MaxMemoryMB,
			ScalingRate: d.cfg.ScalingRate,
			IdleTTL:     d.cfg.IdleTTL,
			FreezeAfter: d.cfg.FreezeAfter,
			Logger:      d.log,
		})
		if err != nil {
			stop()
			lg.Close(ctx)
			st.Close()
			return err
		}
		d.inv = invoke.New(d.ctl, d.pool, d.log, bg)
		d.async, err = async.Open(ctx, async.Config{
			JetStream:            st.JetStream(),
			Registry:             d.ctl,
			Runner:               d.inv,
			Queues:               d.queueSender(),
			DelayScale:           d.cfg.Async.DelayScale,
			AckWait:              d.cfg.Async.AckWait,
			MaxEventsPerFunction: d.cfg.Async.MaxEventsPerFunction,
			Logger:               d.log,
		})
		if err != nil {
			stop()
			d.pool.Shutdown(ctx)
			lg.Close(ctx)
			st.Close()
			return err
		}
		d.inv.SetEventQueue(d.async)
	}
	// unwind stops what Start started, for a listener that cannot be opened.
	unwind := func() {
		stop()
		if d.esm != nil {
			d.esm.Close()
		}
		if d.async != nil {
			d.async.Close()
		}
		if d.pool != nil {
			d.pool.Shutdown(ctx)
		}
		if d.logs != nil {
			d.logs.Close(ctx)
		}
		d.queues.Close()
		st.Close()
	}
	ln, err := net.Listen("tcp", d.cfg.Listen)
	if err != nil {
		unwind()
		return fmt.Errorf("listen on %s: %w", d.cfg.Listen, err)
	}
	d.ln = ln
	queueAPI := sqsapi.New(sqsapi.Config{Queues: d.queues, Credentials: d.cfg.Credentials, Sessions: sessions, Logger: d.log})
	api := lambdaapi.New(lambdaapi.Config{Control: d.ctl, Invoke: d.inv, Async: d.async, Logs: d.logs, Credentials: d.cfg.Credentials,
		Sessions: sessions, SQS: queueAPI,
		MaxInflightBodyBytes: d.cfg.MaxInflightBodyBytes, Logger: d.log})
	d.srv = newAPIServer(api)
	if d.cfg.FunctionListen != "" {
		fln, err := net.Listen("tcp", d.cfg.FunctionListen)
		if err != nil {
			ln.Close()
			unwind()
			return fmt.Errorf("listen for functions on %s: %w", d.cfg.FunctionListen, err)
		}
		d.fsrv = newAPIServer(api)
		go func() {
			if err := d.fsrv.Serve(fln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				d.log.Error("function-facing API server stopped", "err", err)
			}
		}()
	}
	go d.collectGarbage(bg)
	go func() {
		defer close(d.done)
		if err := d.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("API server stopped", "err", err)
		}
	}()
	if d.inv != nil {
		// Last, once the function-facing API listens: a batch right after a restart
		// may run a function that calls it at once.
		d.esm = d.startMappings()
	}
	close(d.ready)
	return nil
}

// newAPIServer serves the API with the edge's timeouts.
func newAPIServer(api http.Handler) *http.Server {
	return &http.Server{
		Handler: api,
		// A client gets 10 s to send its headers, however slowly it trickles them.
		ReadHeaderTimeout: 10 * time.Second,
		// No ReadTimeout: it would stay armed while the handler runs, and when it
		// fired on the server's background read it would cancel the request's
		// context — an invocation may take 15 minutes, a log follow longer. The edge
		// sets a read deadline for each body instead, scaled to its size, and clears
		// it once the body is in.
		IdleTimeout:    120 * time.Second,
		MaxHeaderBytes: 64 << 10,
	}
}

// collectGarbage sweeps what deletes and crashes leave, soon after start and then
// hourly. It never blocks startup.
func (d *Daemon) collectGarbage(ctx context.Context) {
	first := d.cfg.GCFirstRun
	if first <= 0 {
		first = 30 * time.Second
	}
	t := time.NewTimer(first)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n, err := d.ctl.CollectGarbage(ctx, time.Hour); err != nil {
			d.log.Warn("garbage collection", "err", err)
		} else if n > 0 {
			d.log.Info("garbage collection", "removed", n)
		}
		t.Reset(time.Hour)
	}
}

// Ready is closed once the node takes requests.
func (d *Daemon) Ready() <-chan struct{} { return d.ready }

// Addr is the API's bound address.
func (d *Daemon) Addr() string { return d.ln.Addr().String() }

// NATSAddr is the embedded NATS server's TCP address (Config.NATSListen, bound), or
// "" when it has none.
func (d *Daemon) NATSAddr() string { return d.st.ListenAddr() }

// Control is the node's function registry.
func (d *Daemon) Control() *control.Service { return d.ctl }

// Queues is the node's SQS service, for async invocation's destinations and
// dead-letter queues (and later event source mappings).
func (d *Daemon) Queues() *sqs.Service { return d.queues }

// Shutdown stops taking requests, lets those in flight finish (until ctx ends), and
// closes the store.
func (d *Daemon) Shutdown(ctx context.Context) error {
	if d.esm != nil {
		// The mappings' pollers stop before anything they use (the queues, the
		// dispatcher, the function-facing API their functions call): batches in
		// flight get up to 10 s to finish and be deleted; the rest reappear after
		// their visibility timeout.
		grace, cancel := context.WithTimeout(ctx, 10*time.Second)
		d.esm.Shutdown(grace)
		cancel()
	}
	if d.stop != nil {
		d.stop()
	}
	var err error
	if d.fsrv != nil {
		_ = d.fsrv.Shutdown(ctx)
	}
	if d.queues != nil {
		// Long polls answer now instead of holding the shutdown for up to 20 s.
		d.queues.Close()
	}
	if d.srv != nil {
		err = d.srv.Shutdown(ctx)
		<-d.done
	}
	if d.async != nil {
		// Attempts in flight end (their envs are stopped below if they do not) and
		// their events go back to the stream for the next start.
		d.async.Close()
	}
	if d.pool != nil {
		d.pool.Shutdown(ctx)
	}
	if d.logs != nil {
		d.logs.Close(ctx) // the last invocations' lines reach JetStream before it stops
	}
	// Drivers that keep processes of their own (the namespace driver's pre-forked
	// setup processes) release them here.
	if c, ok := d.cfg.Driver.(io.Closer); ok {
		_ = c.Close()
	}
	if d.queues != nil {
		d.queues.Close()
	}
	if d.st != nil {
		d.st.Close()
	}
	return err
}
