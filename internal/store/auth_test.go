package store

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// TestListenRequiresPassword: the embedded server's TCP port answers only clients
// with the user and password; the store's own in-process connection has them.
func TestListenRequiresPassword(t *testing.T) {
	if _, err := Open(context.Background(), Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0"}); err == nil {
		t.Fatal("a listen port without a password was opened")
	}
	st, err := Open(context.Background(), Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", User: "hearth", Password: "s3cret-s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	addr := st.ListenAddr()
	if !strings.HasPrefix(addr, "127.0.0.1:") || strings.HasSuffix(addr, ":4222") {
		t.Fatalf("ListenAddr = %q, want a free loopback port", addr)
	}
	// The in-process connection authenticated: the store works.
	if _, err := st.Settings.Create(context.Background(), "k", []byte("v")); err != nil {
		t.Fatal(err)
	}

	for name, opts := range map[string][]nats.Option{
		"no credentials": nil,
		"wrong password": {nats.UserInfo("hearth", "guess")},
	} {
		nc, err := nats.Connect("nats://"+addr, append(opts, nats.Timeout(10*time.Second), nats.NoReconnect())...)
		if err == nil {
			nc.Close()
			t.Errorf("%s: connected", name)
			continue
		}
		if !errors.Is(err, nats.ErrAuthorization) && !strings.Contains(strings.ToLower(err.Error()), "authorization") {
			t.Errorf("%s: %v, want an authorization error", name, err)
		}
	}
	nc, err := nats.Connect("nats://hearth:s3cret-s3cret@"+addr, nats.Timeout(10*time.Second))
	if err != nil {
		t.Fatalf("with the password: %v", err)
	}
	nc.Close()
}
