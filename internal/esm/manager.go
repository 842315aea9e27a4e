package esm

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Config is what a Manager needs.
type Config struct {
	Registry Registry
	Queues   Queues
	Invoker  Invoker
	Region   string
	Logger   *slog.Logger

	// StartWorkers is how many batches a mapping's poller works on at once when it
	// starts (Lambda: 5); 0 takes that.
	StartWorkers int
	// ScaleEvery is how often a poller adds (or removes) one worker while its queue
	// has (or has no) backlog; 0 is one second, Lambda's 60 a minute.
	ScaleEvery time.Duration
}

// DefaultStartWorkers is Lambda's starting number of concurrent batches for SQS.
const DefaultStartWorkers = 5

// DefaultMaximumConcurrency applies when a mapping has no ScalingConfig.
const DefaultMaximumConcurrency = 1000

// Manager keeps one poller per enabled mapping, following the registry.
type Manager struct {
	cfg      Config
	log      *slog.Logger
	ctx      context.Context // ends at Close: invocations and deletes in flight stop
	stop     context.CancelFunc
	loop     context.Context // ends when the manager stops following the registry
	stopLoop context.CancelFunc
	done     chan struct{}

	mu      sync.Mutex
	pollers map[string]*poller // by UUID
}

// New checks the configuration; nothing runs until Start.
func New(cfg Config) *Manager {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.StartWorkers <= 0 {
		cfg.StartWorkers = DefaultStartWorkers
	}
	if cfg.ScaleEvery <= 0 {
		cfg.ScaleEvery = time.Second
	}
	ctx, stop := context.WithCancel(context.Background())
	loop, stopLoop := context.WithCancel(ctx)
	return &Manager{cfg: cfg, log: cfg.Logger, ctx: ctx, stop: stop, loop: loop, stopLoop: stopLoop, done: make(chan struct{}), pollers: map[string]*poller{}}
}

// reconcileEvery is how often the manager looks for mapping changes; a look that
// finds none costs one atomic load.
const reconcileEvery = 100 * time.Millisecond

// Start follows the registry's mappings in the background.
func (m *Manager) Start() {
	go func() {
		defer close(m.done)
		t := time.NewTicker(reconcileEvery)
		defer t.Stop()
		var seen uint64
		first := true
		for {
			if c := m.cfg.Registry.MappingChanges(); first || c != seen {
				seen, first = c, false
				m.reconcile()
			}
			select {
			case <-m.loop.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// reconcile starts pollers of enabled mappings, hands changed settings to running
// ones and stops those of disabled or deleted mappings.
func (m *Manager) reconcile() {
	want := map[string]bool{}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, mp := range m.cfg.Registry.EventSourceMappings() {
		if !mp.Enabled {
			continue
		}
		want[mp.UUID] = true
		if p := m.pollers[mp.UUID]; p != nil {
			p.update(mp)
			continue
		}
		p := newPoller(m, mp)
		m.pollers[mp.UUID] = p
		p.start()
	}
	for uuid, p := range m.pollers {
		if !want[uuid] {
			p.halt()
			delete(m.pollers, uuid)
		}
	}
}

// Close stops every poller and waits for them. Batches in flight are abandoned:
// their messages reappear after the queue's visibility timeout.
func (m *Manager) Close() {
	m.stop()
	m.Shutdown(m.ctx)
}

// Shutdown stops receiving at once and lets the batches in flight finish until ctx
// ends; then it abandons the rest, as Close does. A batch cut off after its function
// ran is delivered again: a clean stop should not cost duplicates.
func (m *Manager) Shutdown(ctx context.Context) {
	m.stopLoop()
	<-m.done
	m.mu.Lock()
	ps := make([]*poller, 0, len(m.pollers))
	for _, p := range m.pollers {
		p.halt()
		ps = append(ps, p)
	}
	m.pollers = map[string]*poller{}
	m.mu.Unlock()
	finished := make(chan struct{})
	go func() {
		for _, p := range ps {
			p.wait()
		}
		close(finished)
	}()
	select {
	case <-finished:
	case <-ctx.Done():
		m.stop()
		<-finished
	}
	m.stop()
}

// Workers reports how many batches each mapping's poller works on at once on this
// node (for tests and the bench).
func (m *Manager) Workers() map[string]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]int{}
	for uuid, p := range m.pollers {
		out[uuid] = p.running()
	}
	return out
}
