package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/hearthfn/hearth/internal/daemon"
)

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:9060", "address of the Lambda API")
	data := fs.String("data", "./.hearth", "data directory (embedded NATS JetStream files, credentials)")
	region := fs.String("region", "us-east-1", "the region Hearth presents itself as")
	account := fs.String("account-id", "000000000000", "the account id in ARNs")
	natsURL := fs.String("nats", "", "external NATS server URL (default: run an embedded one)")
	natsListen := fs.String("nats-listen", "", "also open the embedded NATS server on this TCP address")
	syncAlways := fs.Bool("sync-always", false, "fsync every state write before acknowledging it (survives power loss; slower)")
	concurrency := fs.Int("account-concurrency", 1000, "account concurrency limit")
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
	d, err := daemon.New(daemon.Config{
		Listen:               *listen,
		DataDir:              dataDir,
		Region:               *region,
		AccountID:            *account,
		NATSURL:              *natsURL,
		NATSListen:           *natsListen,
		SyncAlways:           *syncAlways,
		Credentials:          map[string]string{id: secret},
		ConcurrentExecutions: *concurrency,
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
		store = "NATS at " + *natsURL
	}
	fmt.Fprintf(os.Stderr, "Hearth is serving the Lambda API on http://%s (region %s, account %s, state: %s), ready in %s\n",
		d.Addr(), *region, *account, store, time.Since(start).Round(time.Millisecond))
	if generated {
		fmt.Fprintf(os.Stderr, "Generated an access key for this Hearth in %s (profile %q).\n", daemon.CredentialsFile(dataDir), daemon.CredentialsProfile)
	}
	if os.Getenv("HEARTH_ACCESS_KEY_ID") == "" {
		fmt.Fprintf(os.Stderr, "Use it with the AWS CLI:\n  export AWS_SHARED_CREDENTIALS_FILE=%s AWS_PROFILE=%s AWS_REGION=%s AWS_DEFAULT_REGION=%s\n  aws lambda list-functions --endpoint-url http://%s\n",
			daemon.CredentialsFile(dataDir), daemon.CredentialsProfile, *region, *region, d.Addr())
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	got := <-sig
	fmt.Fprintf(os.Stderr, "Hearth: %s received, shutting down\n", got)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return d.Shutdown(ctx)
}
