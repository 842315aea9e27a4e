package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	natsserver "github.com/nats-io/nats-server/v2/server"
)

// startNATS runs a JetStream-enabled NATS server in the test process, on a random
// port, stopped when the test ends (after the hearth servers that use it, which
// are registered later and so stopped first).
func startNATS(t *testing.T) string {
	t.Helper()
	ns, err := natsserver.NewServer(&natsserver.Options{
		Host:      "127.0.0.1",
		Port:      -1,
		JetStream: true,
		StoreDir:  t.TempDir(),
		NoLog:     true,
		NoSigs:    true,
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
