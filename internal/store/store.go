// Package store keeps all of Hearth's durable state on NATS JetStream: KV buckets for
// functions, versions, aliases and settings, and an object store for code zips. It runs
// an embedded nats-server (in-process connection, file storage under the data directory,
// no TCP port unless asked, and then only with a password) or connects to an external
// NATS cluster; everything above it is the same either way.
package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Config says where the state lives.
type Config struct {
	// DataDir holds the embedded server's JetStream files (DataDir/jetstream).
	DataDir string
	// NATSURL, when set, uses an external NATS server instead of the embedded one.
	NATSURL string
	// Replicas is the JetStream replication factor of every bucket (1 on one node).
	Replicas int
	// SyncAlways makes the embedded server fsync every write before acknowledging it,
	// so acknowledged state survives power loss, not only a process crash.
	SyncAlways bool
	// Listen, when set, also opens a TCP client port on the embedded server (for
	// debugging with the nats CLI, or for other nodes). Empty: no port at all. Port 0
	// picks a free port (ListenAddr says which).
	Listen string
	// User and Password, when set, are required of every client of the embedded
	// server, the in-process connection included. Whoever reaches the port with them
	// can read and rewrite all state (code, environment variables), so a server with
	// a Listen port must have them.
	User, Password string
}

// Bucket names. One place, so a rename cannot miss a reader.
const (
	bucketFunctions = "hearth_functions"
	bucketVersions  = "hearth_versions"
	bucketAliases   = "hearth_aliases"
	bucketSettings  = "hearth_settings"
	bucketMappings  = "hearth_mappings"
	bucketCode      = "hearth_code"
)

// Store is an open connection to Hearth's state.
type Store struct {
	ns   *server.Server // nil with an external NATS
	lock *os.File       // the data directory's lock, held while the embedded server runs
	nc   *nats.Conn
	js   jetstream.JetStream

	Functions *Table
	Versions  *Table
	Aliases   *Table
	Settings  *Table
	// Mappings holds event source mappings (control/mappings.go); a bucket of its
	// own so the pollers' reconcile loop wakes for mapping changes only.
	Mappings *Table
	Code     *CodeStore
}

// Open starts (or connects to) NATS, creates the buckets if they are missing, and
// loads every table's mirror before returning, so a returned Store answers reads.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Replicas <= 0 {
		cfg.Replicas = 1
	}
	s := &Store{}
	var err error
	if cfg.NATSURL == "" {
		if s.ns, s.lock, err = startEmbedded(cfg); err != nil {
			return nil, err
		}
		opts := []nats.Option{nats.InProcessServer(s.ns), nats.Name("hearth")}
		if cfg.User != "" {
			opts = append(opts, nats.UserInfo(cfg.User, cfg.Password))
		}
		s.nc, err = nats.Connect(s.ns.ClientURL(), opts...)
	} else {
		// 10 s, not nats.go's 2 s, for the server's first answer: a busy server (or
		// host) took longer, and the start failed with an i/o timeout.
		s.nc, err = nats.Connect(cfg.NATSURL, nats.Name("hearth"), nats.MaxReconnects(-1), nats.Timeout(10*time.Second))
	}
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("connect to NATS: %w", err)
	}
	if s.js, err = jetstream.New(s.nc); err != nil {
		s.Close()
		return nil, fmt.Errorf("open JetStream: %w", err)
	}
	tables := []struct {
		dst  **Table
		name string
	}{
		{&s.Functions, bucketFunctions},
		{&s.Versions, bucketVersions},
		{&s.Aliases, bucketAliases},
		{&s.Settings, bucketSettings},
		{&s.Mappings, bucketMappings},
	}
	for _, t := range tables {
		kv, err := s.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:   t.name,
			History:  1,
			Storage:  jetstream.FileStorage,
			Replicas: cfg.Replicas,
		})
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("create KV bucket %s: %w", t.name, err)
		}
		if *t.dst, err = openTable(ctx, kv); err != nil {
			s.Close()
			return nil, fmt.Errorf("load KV bucket %s: %w", t.name, err)
		}
	}
	obs, err := s.js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket:   bucketCode,
		Storage:  jetstream.FileStorage,
		Replicas: cfg.Replicas,
	})
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("create object store %s: %w", bucketCode, err)
	}
	s.Code = &CodeStore{obs: obs}
	return s, nil
}

func startEmbedded(cfg Config) (*server.Server, *os.File, error) {
	dir := filepath.Join(cfg.DataDir, "jetstream")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("create data directory: %w", err)
	}
	// Two servers on one JetStream directory corrupt each other's files; the lock
	// makes the second one refuse to start. The kernel drops it when we die.
	lock, err := os.OpenFile(filepath.Join(cfg.DataDir, "hearth.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("lock data directory: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, nil, fmt.Errorf("the data directory %s is in use by another hearth serve; stop it or pass another --data", cfg.DataDir)
	}
	opts := &server.Options{
		ServerName: "hearth",
		JetStream:  true,
		StoreDir:   dir,
		DontListen: cfg.Listen == "",
		NoSigs:     true, // hearth handles signals itself
		NoLog:      true,
		// Code zips are chunked by the object store; KV records are small; an SQS
		// message is up to 1 MiB of body plus as much in attributes, with its headers.
		MaxPayload: 4 << 20,
		SyncAlways: cfg.SyncAlways,
	}
	if cfg.Listen != "" {
		if cfg.User == "" || cfg.Password == "" {
			lock.Close()
			return nil, nil, errors.New("a NATS listen port needs a user and password: anyone who reaches it could read and change all state")
		}
		host, port, err := splitHostPort(cfg.Listen)
		if err != nil {
			lock.Close()
			return nil, nil, err
		}
		if port == 0 {
			port = server.RANDOM_PORT // nats-server's 0 is its default port, 4222
		}
		opts.Host, opts.Port = host, port
	}
	if cfg.User != "" {
		opts.Username, opts.Password = cfg.User, cfg.Password
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		lock.Close()
		return nil, nil, fmt.Errorf("configure embedded NATS: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		ns.Shutdown()
		lock.Close()
		return nil, nil, errors.New("embedded NATS did not become ready in 30s")
	}
	return ns, lock, nil
}

// ListenAddr is the embedded server's TCP client address, or "" when it has none.
func (s *Store) ListenAddr() string {
	if s.ns == nil {
		return ""
	}
	if a := s.ns.Addr(); a != nil {
		return a.String()
	}
	return ""
}

// JetStream is the store's JetStream context, for packages that keep streams of
// their own (logs, and later async invocations).
func (s *Store) JetStream() jetstream.JetStream { return s.js }

// Close stops the mirrors, drains the connection and stops the embedded server.
func (s *Store) Close() error {
	for _, t := range []*Table{s.Functions, s.Versions, s.Aliases, s.Settings, s.Mappings} {
		if t != nil {
			t.stop()
		}
	}
	if s.nc != nil {
		s.nc.Close()
	}
	if s.ns != nil {
		s.ns.Shutdown()
		s.ns.WaitForShutdown()
	}
	if s.lock != nil {
		s.lock.Close()
	}
	return nil
}
