package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hearthfn/hearth/internal/daemon"
	"github.com/hearthfn/hearth/internal/lambdaapi"
	"github.com/hearthfn/hearth/internal/netenv"
	"github.com/hearthfn/hearth/internal/sandbox"
	"github.com/hearthfn/hearth/internal/worker"
)

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:9060", "address of the Lambda API")
	data := fs.String("data", "./.hearth", "data directory (embedded NATS JetStream files, credentials)")
	region := fs.String("region", "us-east-1", "the region Hearth presents itself as")
	account := fs.String("account-id", "000000000000", "the account id in ARNs")
	natsURL := fs.String("nats", "", "external NATS server URL (default: run an embedded one)")
	natsListen := fs.String("nats-listen", "", "also open the embedded NATS server on this TCP address, for clients with the password serve generates into DATA/nats-credentials (it grants full read/write of all state)")
	syncAlways := fs.Bool("sync-always", false, "fsync every state write before acknowledging it (survives power loss; slower)")
	concurrency := fs.Int("account-concurrency", 1000, "account concurrency limit")
	driverName := fs.String("sandbox", "auto", "sandbox driver: gvisor, namespace, none (control plane only), or auto (gvisor where runsc works, else namespace)")
	runscPath := fs.String("runsc", "", "path of gVisor's runsc (default: next to hearth, then PATH)")
	preboot := fs.Bool("gvisor-preboot", true, "keep gVisor sandboxes booted ahead for recently repeated sandbox shapes, as many as their last minute's largest burst of cold starts (at most 10 in all), so cold starts skip runsc's boot")
	initPath := fs.String("init", "", "path of the static hearth-init (default: next to hearth)")
	maxEnvs := fs.Int("max-envs", 0, "most execution environments this host runs at once (default 256)")
	scalingRate := fs.Int("scaling-rate", worker.DefaultScalingRate, "most new execution environments each function gets per 10 seconds, refilled continuously (Lambda's concurrency scaling rate); past it an invoke that needs one gets 429 TooManyRequestsException (0 or less: no limit)")
	maxMemory := fs.Int("max-memory-mb", 0, "most memory (MB) all environments may have together (default 3/4 of RAM)")
	idleTTL := fs.Duration("idle-ttl", 10*time.Minute, "reap an execution environment idle this long")
	credsTTL := fs.Duration("credentials-ttl", daemon.DefaultCredentialsTTL, "how long the execution role's temporary credentials in each env are valid; an env retires before they expire (at least 10s; short values are for testing rotation)")
	asyncScale := fs.Float64("async-delay-scale", 1, "multiply asynchronous invocation's retry delays and event age limits by this (1 = Lambda's: 1 and 2 min after function errors, 1 s–5 min after throttles, events live up to MaximumEventAgeInSeconds); 0.01 makes a 6 h event age 3.6 min")
	asyncAckWait := fs.Duration("async-ack-wait", 30*time.Second, "how soon an asynchronous event whose attempt lost its server (a crash, kill -9) is taken again")
	asyncMaxEvents := fs.Int64("async-max-events", 100000, "most asynchronous events one function may have stored; past it its Event invokes get 429")
	freezeAfter := fs.Duration("freeze-after", 100*time.Millisecond, "freeze an execution environment idle this long (negative: never)")
	maxInflightBody := fs.Int("max-inflight-body-mb", lambdaapi.DefaultMaxInflightBodyBytes>>20, "most request-body megabytes the API holds at once; past it requests get 429 TooManyRequestsException")
	gcFirstRun := fs.Duration("gc-first-run", 30*time.Second, "when the first garbage collection of orphaned versions, aliases and code runs after start (then hourly)")
	debugListen := fs.String("debug-listen", "", "serve Go's profiler (/debug/pprof/) on this address; keep it on loopback")
	egress := fs.String("egress", "internet", "where functions may connect: internet (anywhere but the host, link-local addresses and other envs, as on Lambda), hearth-only (Hearth's function-facing listener and the allow rules only), or none (loopback only)")
	egressAllow := fs.String("egress-allow", "", "comma-separated destinations functions may reach even where --egress refuses them, the host's own addresses included: CIDR or CIDR:port (e.g. 10.0.0.0/8,192.0.2.10/32:5432)")
	egressDeny := fs.String("egress-deny", "", "comma-separated destinations functions may never reach (checked before --egress-allow): CIDR or CIDR:port")
	envSubnet := fs.String("env-subnet", "10.213.0.0/16", "IPv4 subnet of the envs' addresses; its first address is the host's side (the gateway)")
	functionPort := fs.Int("function-port", 9061, "with --egress internet or hearth-only: the port of the API's second listener, on the gateway, for functions (their AWS_ENDPOINT_URL_LAMBDA)")
	envMaxConns := fs.Int("env-max-connections", netenv.DefaultMaxConnections, "most connections an env may have open at once (TCP and UDP flows); past it its connect is refused (negative: no limit)")
	envConnRate := fs.Int("env-new-connections-per-sec", netenv.DefaultNewConnectionsPerSec, "most connections an env may open a second, with a burst of as many (negative: no limit)")
	envMbit := fs.Int("env-bandwidth-mbit", netenv.DefaultBandwidthMbit, "shape each env's traffic, each way, to this many Mbit/s (negative: no limit)")
	_ = fs.Parse(args)

	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	start := time.Now()
	dataDir, err := filepath.Abs(*data)
	if err != nil {
		return err
	}
	id, secret, generated, err := daemon.LoadCredentials(dataDir)
	if err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	initBin := *initPath
	if initBin == "" {
		initBin = besideSelf("hearth-init")
	}
	if *credsTTL < 10*time.Second {
		return fmt.Errorf("--credentials-ttl %v: want at least 10s", *credsTTL)
	}
	if *functionPort <= 0 || *functionPort > 65535 {
		return fmt.Errorf("--function-port %d: want 1-65535", *functionPort)
	}
	if *asyncScale <= 0 || *asyncScale > 100 {
		return fmt.Errorf("--async-delay-scale %v: want more than 0 and at most 100", *asyncScale)
	}
	if *asyncAckWait < time.Second {
		return fmt.Errorf("--async-ack-wait %v: want at least 1s", *asyncAckWait)
	}
	if *asyncMaxEvents < 1 {
		return fmt.Errorf("--async-max-events %d: want at least 1", *asyncMaxEvents)
	}
	var network *netenv.Network
	if *driverName != "none" {
		// A control-plane-only node runs no envs, so it needs no env network.
		network, err = openNetwork(dataDir, *egress, *egressAllow, *egressDeny, *envSubnet, uint16(*functionPort),
			netenv.Limits{MaxConnections: *envMaxConns, NewConnectionsPerSec: *envConnRate, BandwidthMbit: *envMbit})
		if err != nil {
			return err
		}
	}
	if network != nil {
		defer network.Close()
	}
	var sbNet sandbox.Network
	var functionListen, functionEndpoint string
	if network != nil {
		sbNet = network
		functionListen = net.JoinHostPort(network.Gateway().String(), strconv.Itoa(*functionPort))
		functionEndpoint = "http://" + functionListen
	}
	drv, err := newDriver(*driverName, dataDir, *runscPath, initBin, *preboot, sbNet, log)
	if err != nil {
		return err
	}
	if drv != nil {
		if _, err := os.Stat(initBin); err != nil {
			return fmt.Errorf("hearth-init not found at %s (build it with make build, or pass --init): %w", initBin, err)
		}
	}
	d, err := daemon.New(daemon.Config{
		Listen:               *listen,
		FunctionListen:       functionListen,
		FunctionEndpoint:     functionEndpoint,
		DataDir:              dataDir,
		Region:               *region,
		AccountID:            *account,
		NATSURL:              *natsURL,
		NATSListen:           *natsListen,
		SyncAlways:           *syncAlways,
		Credentials:          map[string]string{id: secret},
		ConcurrentExecutions: *concurrency,
		Driver:               drv,
		InitBinary:           initBin,
		MaxEnvs:              *maxEnvs,
		GCFirstRun:           *gcFirstRun,
		MaxMemoryMB:          *maxMemory,
		ScalingRate:          scalingRateOf(*scalingRate),
		IdleTTL:              *idleTTL,
		CredentialsTTL:       *credsTTL,
		FreezeAfter:          *freezeAfter,
		Async:                daemon.AsyncConfig{DelayScale: *asyncScale, AckWait: *asyncAckWait, MaxEventsPerFunction: *asyncMaxEvents},
		MaxInflightBodyBytes: int64(*maxInflightBody) << 20,
		Logger:               log,
	})
	if err != nil {
		return err
	}
	if err := d.Start(context.Background()); err != nil {
		return err
	}
	store := "embedded NATS JetStream in " + filepath.Join(dataDir, "jetstream")
	if *natsURL != "" {
		store = "NATS at " + redactURLs(*natsURL)
	}
	sandboxes := "none (control plane only)"
	if drv != nil {
		sandboxes = drv.Name()
	}
	fmt.Fprintf(os.Stderr, "Hearth is serving the Lambda API on http://%s (region %s, account %s, state: %s, sandbox: %s), ready in %s\n",
		d.Addr(), *region, *account, store, sandboxes, time.Since(start).Round(time.Millisecond))
	if generated {
		fmt.Fprintf(os.Stderr, "Generated an access key for this Hearth in %s (profile %q).\n", daemon.CredentialsFile(dataDir), daemon.CredentialsProfile)
	}
	if os.Getenv("HEARTH_ACCESS_KEY_ID") == "" {
		fmt.Fprintf(os.Stderr, "Use it with the AWS CLI:\n  export AWS_SHARED_CREDENTIALS_FILE=%s AWS_PROFILE=%s AWS_REGION=%s AWS_DEFAULT_REGION=%s\n  aws lambda list-functions --endpoint-url http://%s\n",
			daemon.CredentialsFile(dataDir), daemon.CredentialsProfile, *region, *region, d.Addr())
	}

	if addr := d.NATSAddr(); addr != "" {
		fmt.Fprintf(os.Stderr, "The embedded NATS server listens on %s for user %q with the password in %s (a nats:// URL: nats --server \"$(cat %s)\" stream ls). It grants full read and write of all of Hearth's state, code and environment variables included.\n",
			addr, daemon.NATSUser, daemon.NATSCredentialsFile(dataDir), daemon.NATSCredentialsFile(dataDir))
	}

	if *debugListen != "" {
		if err := serveDebug(*debugListen); err != nil {
			return err
		}
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	got := <-sig
	fmt.Fprintf(os.Stderr, "Hearth: %s received, shutting down\n", got)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return d.Shutdown(ctx)
}

// serveDebug serves Go's profiler on its own listener, never on the API port: the
// profiles show function names and timings, and the API is for callers with keys.
func serveDebug(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--debug-listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	fmt.Fprintf(os.Stderr, "Profiler on http://%s/debug/pprof/\n", ln.Addr())
	go func() { _ = http.Serve(ln, mux) }()
	return nil
}

// redactURLs hides the passwords in a comma-separated list of NATS URLs, which
// nats.go accepts as nats://user:password@host:port.
func redactURLs(list string) string {
	parts := strings.Split(list, ",")
	for i, p := range parts {
		if u, err := url.Parse(strings.TrimSpace(p)); err == nil && u.User != nil {
			parts[i] = u.Redacted()
		} else if err != nil && strings.Contains(p, "@") {
			parts[i] = "(an unparsable URL with credentials)"
		}
	}
	return strings.Join(parts, ",")
}

// scalingRateOf maps the flag to the worker's ScalingRate, where 0 is the default
// and only a negative value turns the limit off.
func scalingRateOf(flag int) int {
	if flag <= 0 {
		return -1
	}
	return flag
}
