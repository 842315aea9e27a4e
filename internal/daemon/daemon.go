// Package daemon assembles a whole Hearth node — state store, function registry and
// the Lambda API — behind the embeddable lifecycle every Hearth daemon has: New,
// Start, Ready, Shutdown. cmd/hearth turns flags into a Config; tests and benchmarks
// embed it directly.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/hearthfn/hearth/internal/control"
	"github.com/hearthfn/hearth/internal/lambdaapi"
	"github.com/hearthfn/hearth/internal/store"
)

// Config is a node's configuration.
type Config struct {
	Listen     string // API address, e.g. 127.0.0.1:9060; port 0 picks a free one
	DataDir    string
	Region     string
	AccountID  string
	NATSURL    string // external NATS; empty runs the embedded server
	NATSListen string // optional TCP port for the embedded server
	SyncAlways bool   // fsync every write (survive power loss, not only crashes)
	// Credentials maps access key id → secret; see LoadCredentials.
	Credentials map[string]string
	// ConcurrentExecutions is the account concurrency limit.
	ConcurrentExecutions int
	Logger               *slog.Logger
}

// Daemon is one running Hearth node.
type Daemon struct {
	cfg   Config
	log   *slog.Logger
	st    *store.Store
	ctl   *control.Service
	ln    net.Listener
	srv   *http.Server
	ready chan struct{}
	done  chan struct{}
	stop  context.CancelFunc
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
	st, err := store.Open(ctx, store.Config{DataDir: d.cfg.DataDir, NATSURL: d.cfg.NATSURL, Listen: d.cfg.NATSListen, SyncAlways: d.cfg.SyncAlways})
	if err != nil {
		return err
	}
	d.st = st
	d.ctl = control.New(control.Config{
		Store:                st,
		Region:               d.cfg.Region,
		AccountID:            d.cfg.AccountID,
		ConcurrentExecutions: d.cfg.ConcurrentExecutions,
	})
	ln, err := net.Listen("tcp", d.cfg.Listen)
	if err != nil {
		st.Close()
		return fmt.Errorf("listen on %s: %w", d.cfg.Listen, err)
	}
	d.ln = ln
	api := lambdaapi.New(lambdaapi.Config{Control: d.ctl, Credentials: d.cfg.Credentials, Logger: d.log})
	d.srv = &http.Server{
		Handler:           api,
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	bg, stop := context.WithCancel(context.Background())
	d.stop = stop
	go d.collectGarbage(bg)
	go func() {
		defer close(d.done)
		if err := d.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("API server stopped", "err", err)
		}
	}()
	close(d.ready)
	return nil
}

// collectGarbage sweeps what deletes and crashes leave, soon after start and then
// hourly. It never blocks startup.
func (d *Daemon) collectGarbage(ctx context.Context) {
	t := time.NewTimer(30 * time.Second)
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

// Control is the node's function registry.
func (d *Daemon) Control() *control.Service { return d.ctl }

// Shutdown stops taking requests, lets those in flight finish (until ctx ends), and
// closes the store.
func (d *Daemon) Shutdown(ctx context.Context) error {
	if d.stop != nil {
		d.stop()
	}
	var err error
	if d.srv != nil {
		err = d.srv.Shutdown(ctx)
		<-d.done
	}
	if d.st != nil {
		d.st.Close()
	}
	return err
}
