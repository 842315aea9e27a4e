package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// startNATS runs a JetStream-enabled NATS server in the test process, on a random
// port, stopped when the test ends (after the hearth servers that use it, which
// are registered later and so stopped first).
func startNATS(t *testing.T) string {
	return startNATSWith(t, "", "")
}

// startNATSWith is startNATS with a user and password required of clients.
func startNATSWith(t *testing.T, user, password string) string {
	t.Helper()
	ns, err := natsserver.NewServer(&natsserver.Options{
		Host:      "127.0.0.1",
		Port:      -1,
		JetStream: true,
		StoreDir:  t.TempDir(),
		NoLog:     true,
		NoSigs:    true,
		Username:  user,
		Password:  password,
	})
	if err != nil {
		t.Fatalf("nats-server: %v", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(20 * time.Second) {
		ns.Shutdown()
		t.Fatal("nats-server not ready within 20s")
	}
	t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	return ns.ClientURL()
}

// TestExternalNATS keeps Hearth's state in a NATS server outside the process: a
// second node with an empty data directory sees everything the first one wrote,
// whether the first is still running or not.
func TestExternalNATS(t *testing.T) {
	t.Parallel()
	url := startNATS(t)
	s1 := startServer(t, serverOptions{natsURL: url})
	c1 := s1.client()

	name := uniqueName("nats")
	zip := pythonZip(t, name)
	created := createFunction(t, c1, name, func(in *lambda.CreateFunctionInput) {
		in.Code.ZipFile = zip
		in.Tags = map[string]string{"store": "external"}
	})
	if deref(created.CodeSha256) != sha256B64(zip) {
		t.Errorf("CodeSha256 = %q", deref(created.CodeSha256))
	}
	v1 := call(t, c1.PublishVersion, &lambda.PublishVersionInput{FunctionName: aws.String(name)})
	alias := call(t, c1.CreateAlias, &lambda.CreateAliasInput{FunctionName: aws.String(name), Name: aws.String("live"), FunctionVersion: v1.Version})
	call(t, c1.PutFunctionConcurrency, &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String(name), ReservedConcurrentExecutions: aws.Int32(5)})
	viaAlias := call(t, c1.GetFunction, &lambda.GetFunctionInput{FunctionName: aws.String(name), Qualifier: aws.String("live")})
	if deref(viaAlias.Configuration.Version) != "1" {
		t.Errorf("GetFunction via alias: Version %q", deref(viaAlias.Configuration.Version))
	}
	if _, body := download(t, deref(viaAlias.Code.Location)); string(body) != string(zip) {
		t.Errorf("Code.Location serves %d bytes, not the zip", len(body))
	}
	before := captureFunction(t, c1, name)

	t.Run("second node while the first runs", func(t *testing.T) {
		s2 := startServer(t, serverOptions{natsURL: url})
		c2 := s2.client()
		compareStates(t, name, before, captureFunction(t, c2, name))
		// Writes on one node reach the other (through the KV watch).
		other := uniqueName("nats-b")
		createFunction(t, c2, other)
		eventually(t, 10*time.Second, other+" visible on the first node", func() error {
			_, err := c1.GetFunction(ctxT(t), &lambda.GetFunctionInput{FunctionName: aws.String(other)})
			return err
		})
		call(t, c1.UpdateFunctionConfiguration, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String(other), MemorySize: aws.Int32(640)})
		eventually(t, 10*time.Second, "the first node's update visible on the second", func() error {
			cfg, err := c2.GetFunctionConfiguration(ctxT(t), &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(other)})
			if err != nil {
				return err
			}
			if deref(cfg.MemorySize) != 640 {
				return fmt.Errorf("MemorySize %d", deref(cfg.MemorySize))
			}
			return nil
		})
		// Both nodes write the same function; no write is lost.
		v := call(t, c2.PublishVersion, &lambda.PublishVersionInput{FunctionName: aws.String(other)})
		call(t, c1.UpdateFunctionConfiguration, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String(other), MemorySize: aws.Int32(768)})
		v2 := call(t, c1.PublishVersion, &lambda.PublishVersionInput{FunctionName: aws.String(other)})
		if deref(v.Version) != "1" || deref(v2.Version) != "2" {
			t.Errorf("versions published from two nodes: %q then %q, want 1 then 2", deref(v.Version), deref(v2.Version))
		}
		// A duplicate create on the other node conflicts.
		_, err := c1.CreateFunction(ctxT(t), createInput(other, pythonZip(t, "dup")))
		wantAPIError(t, err, "ResourceConflictException", 409)
		call(t, c2.DeleteFunction, &lambda.DeleteFunctionInput{FunctionName: aws.String(other)})
		eventually(t, 10*time.Second, "the delete visible on the first node", func() error {
			_, err := c1.GetFunction(ctxT(t), &lambda.GetFunctionInput{FunctionName: aws.String(other)})
			if errorCode(err) != "ResourceNotFoundException" {
				return fmt.Errorf("GetFunction: %v", err)
			}
			return nil
		})
	})

	// Stop the first node (SIGTERM, exit 0), then start another on the same NATS with
	// a different, empty data directory.
	if err := s1.stop(); err != nil {
		t.Fatalf("stopping the first node: %v\n%s", err, s1.logs())
	}
	s3 := startServer(t, serverOptions{natsURL: url})
	c3 := s3.client()
	compareStates(t, name, before, captureFunction(t, c3, name))
	got := call(t, c3.GetAlias, &lambda.GetAliasInput{FunctionName: aws.String(name), Name: aws.String("live")})
	if deref(got.RevisionId) != deref(alias.RevisionId) {
		t.Errorf("alias RevisionId %q on the new node, %q on the first", deref(got.RevisionId), deref(alias.RevisionId))
	}
	var names []string
	for _, f := range listAllFunctions(t, c3, "") {
		names = append(names, deref(f.FunctionName))
	}
	if fmt.Sprint(names) != fmt.Sprint([]string{name}) {
		t.Errorf("the new node lists %v, want [%s]", names, name)
	}
}

// TestNATSListenRequiresCredentials: --nats-listen opens the embedded NATS server
// only to clients with the password serve generated into DATA/nats-credentials
// (mode 0600, a nats:// URL). Without it a client gets an authorization error;
// with it, a client reaches all state — which is why it must be required.
func TestNATSListenRequiresCredentials(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startServer(t, serverOptions{dataDir: dir, extraArgs: []string{"--nats-listen", "127.0.0.1:0"}})
	name := uniqueName("nats-auth")
	createFunction(t, s.client(), name, func(in *lambda.CreateFunctionInput) {
		in.Environment = &types.Environment{Variables: map[string]string{"SECRET": "only-for-the-function"}}
	})

	path := filepath.Join(dir, "nats-credentials")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("no credentials file: %v", err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("%s has mode %v, want 0600", path, perm)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(strings.TrimSpace(string(b)))
	if err != nil || u.Scheme != "nats" || u.User == nil {
		t.Fatalf("%s holds %q, want nats://user:password@host:port", path, b)
	}
	password, _ := u.User.Password()
	if len(password) < 24 {
		t.Errorf("the generated password has %d characters", len(password))
	}
	logs := s.logs()
	if !strings.Contains(logs, path) || !strings.Contains(logs, u.Host) {
		t.Errorf("serve does not say where the NATS port and its credentials are:\n%s", logs)
	}
	if strings.Contains(logs, password) {
		t.Error("serve printed the NATS password")
	}

	for what, opts := range map[string][]nats.Option{
		"no credentials": nil,
		"wrong password": {nats.UserInfo(u.User.Username(), "not-"+password)},
	} {
		nc, err := nats.Connect("nats://"+u.Host, append(opts, nats.Timeout(10*time.Second), nats.NoReconnect())...)
		if err == nil {
			nc.Close()
			t.Errorf("%s: connected to the NATS port", what)
			continue
		}
		if !errors.Is(err, nats.ErrAuthorization) && !strings.Contains(strings.ToLower(err.Error()), "authorization") {
			t.Errorf("%s: %v, want an authorization error", what, err)
		}
	}

	// The file's URL as it is, as `nats --server "$(cat FILE)"` would use it.
	nc, err := nats.Connect(u.String(), nats.Timeout(10*time.Second), nats.NoReconnect())
	if err != nil {
		t.Fatalf("with the generated credentials: %v", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	kv, err := js.KeyValue(ctx, "hearth_functions")
	if err != nil {
		t.Fatalf("the functions bucket through the NATS port: %v", err)
	}
	keys, err := kv.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for range keys.Keys() {
		n++
	}
	if n == 0 {
		t.Error("the functions bucket through the NATS port is empty")
	}
}

// TestExternalNATSWithPassword: an external NATS that requires a password is used
// with the password in the --nats URL, which serve does not print.
func TestExternalNATSWithPassword(t *testing.T) {
	t.Parallel()
	const password = "external-nats-password-1234"
	u, err := url.Parse(startNATSWith(t, "hearth-node", password))
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword("hearth-node", password)
	s := startServer(t, serverOptions{natsURL: u.String()})
	name := uniqueName("nats-pw")
	createFunction(t, s.client(), name)
	call(t, s.client().GetFunction, &lambda.GetFunctionInput{FunctionName: aws.String(name)})
	if strings.Contains(s.logs(), password) {
		t.Errorf("serve printed the NATS password:\n%s", s.logs())
	}
}
