package e2e

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
)

// TestServeRefusesBadStarts: hearth serve fails fast and says why, rather than
// half-starting.
func TestServeRefusesBadStarts(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOptions{})

	t.Run("port in use", func(t *testing.T) {
		other, err := launch(serverOptions{dataDir: t.TempDir(), extraArgs: []string{"--listen", s.addr}})
		if err == nil {
			other.stop()
			t.Fatalf("a second hearth started on %s, which the first one holds", s.addr)
		}
		if !strings.Contains(err.Error(), "address already in use") {
			t.Errorf("error does not say the address is in use: %v", err)
		}
	})

	t.Run("half a key in the environment", func(t *testing.T) {
		_, err := launch(serverOptions{dataDir: t.TempDir(), noEnvCredentials: true, extraEnv: []string{"HEARTH_ACCESS_KEY_ID=AKIAONLYTHEID0000000"}})
		if err == nil {
			t.Fatal("hearth started with HEARTH_ACCESS_KEY_ID but no HEARTH_SECRET_ACCESS_KEY")
		}
		if !strings.Contains(err.Error(), "HEARTH_SECRET_ACCESS_KEY") {
			t.Errorf("error does not name the missing variable: %v", err)
		}
	})
	call(t, s.client().ListFunctions, &lambda.ListFunctionsInput{})
}

// TestDataDirInUse: two nodes must not run on one data directory. Each would run
// its own embedded JetStream over the same files, acknowledging writes that the
// other overwrites. The second must refuse to start, leaving the first unharmed.
func TestDataDirInUse(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s1 := startServer(t, serverOptions{dataDir: dir})
	c1 := s1.client()
	first := uniqueName("dir-first")
	createFunction(t, c1, first)

	s2, err := launch(serverOptions{dataDir: dir})
	if err != nil {
		t.Logf("the second node refused to start: %v", err)
	} else {
		t.Errorf("a second hearth started on the data directory %s while another serves it (at %s); want it to refuse", dir, s1.addr)
		// What that costs: writes acknowledged by either node are lost.
		c2 := s2.client()
		a, b := uniqueName("dir-a"), uniqueName("dir-b")
		createFunction(t, c1, a)
		createFunction(t, c2, b)
		if err := s2.stop(); err != nil {
			t.Errorf("stopping the second node: %v", err)
		}
		if err := s1.stop(); err != nil {
			t.Errorf("stopping the first node: %v", err)
		}
		s3 := startServer(t, serverOptions{dataDir: dir})
		for _, n := range []string{first, a, b} {
			if _, err := s3.client().GetFunction(ctxT(t), &lambda.GetFunctionInput{FunctionName: aws.String(n)}); err != nil {
				t.Errorf("acknowledged function %s is lost after both nodes stopped: %v", n, err)
			}
		}
		return
	}
	call(t, c1.GetFunction, &lambda.GetFunctionInput{FunctionName: aws.String(first)})
	second := uniqueName("dir-second")
	createFunction(t, c1, second)
	if err := s1.stop(); err != nil {
		t.Fatal(err)
	}
	s3 := startServer(t, serverOptions{dataDir: dir})
	for _, n := range []string{first, second} {
		call(t, s3.client().GetFunction, &lambda.GetFunctionInput{FunctionName: aws.String(n)})
	}
}
