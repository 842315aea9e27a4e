package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
)

// TestCredentialsFile starts hearth without HEARTH_ACCESS_KEY_ID: it writes a key
// pair to DATA/credentials (mode 0600, profile [hearth]) that the AWS SDK's own
// shared-credentials loader reads, and keeps it across restarts.
func TestCredentialsFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "credentials")
	s := startServer(t, serverOptions{dataDir: dir, noEnvCredentials: true})
	// The notice follows the serving line on stderr.
	eventually(t, 5*time.Second, "the notice of a generated key", func() error {
		if !strings.Contains(s.logs(), "Generated an access key for this Hearth in "+path) {
			return fmt.Errorf("stderr so far:\n%s", s.logs())
		}
		return nil
	})
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", path, fi.Mode().Perm())
	}
	content, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^AKIA[A-Z2-7]{16}$`).MatchString(s.keyID) || len(s.secret) != 40 {
		t.Errorf("generated key %q / secret of %d characters, want AKIA + 16 and 40", s.keyID, len(s.secret))
	}

	// Exactly what a user does: the SDK's shared config loader, profile "hearth".
	emptyConfig := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(emptyConfig, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadDefaultConfig(ctxT(t),
		config.WithSharedCredentialsFiles([]string{path}),
		config.WithSharedConfigFiles([]string{emptyConfig}),
		config.WithSharedConfigProfile("hearth"),
		config.WithRegion(region),
		config.WithBaseEndpoint(s.url()),
		config.WithRetryMaxAttempts(1),
	)
	if err != nil {
		t.Fatal(err)
	}
	c := lambda.NewFromConfig(cfg)
	name := uniqueName("creds")
	createFunction(t, c, name)
	call(t, c.ListFunctions, &lambda.ListFunctionsInput{})
	_, err = s.clientWith(accessKeyID, secretAccessKey, aws.NopRetryer{}).ListFunctions(ctxT(t), &lambda.ListFunctionsInput{})
	wantAPIError(t, err, "UnrecognizedClientException", 403)

	// A restart reads the same file and writes nothing new.
	if err := s.stop(); err != nil {
		t.Fatalf("stop: %v\n%s", err, s.logs())
	}
	s2 := startServer(t, serverOptions{dataDir: dir, noEnvCredentials: true})
	if strings.Contains(s2.logs(), "Generated an access key") {
		t.Errorf("hearth generated a new key on restart:\n%s", s2.logs())
	}
	if again, _ := os.ReadFile(path); string(again) != string(content) {
		t.Errorf("the credentials file changed on restart:\n%s\nthen\n%s", content, again)
	}
	if s2.keyID != s.keyID {
		t.Errorf("key %q after the restart, %q before", s2.keyID, s.keyID)
	}
	c = lambda.NewFromConfig(cfg, func(o *lambda.Options) { o.BaseEndpoint = aws.String(s2.url()) })
	call(t, c.GetFunction, &lambda.GetFunctionInput{FunctionName: aws.String(name)})

	// With HEARTH_ACCESS_KEY_ID set, no file is written and the file's key is not
	// accepted.
	envDir := t.TempDir()
	s3 := startServer(t, serverOptions{dataDir: envDir})
	if _, err := os.Stat(filepath.Join(envDir, "credentials")); !os.IsNotExist(err) {
		t.Errorf("hearth wrote a credentials file although the key came from the environment: %v", err)
	}
	if strings.Contains(s3.logs(), "Generated an access key") {
		t.Errorf("hearth says it generated a key although one was given:\n%s", s3.logs())
	}
	_, err = s3.clientWith(s.keyID, s.secret, aws.NopRetryer{}).ListFunctions(ctxT(t), &lambda.ListFunctionsInput{})
	wantAPIError(t, err, "UnrecognizedClientException", 403)
	call(t, s3.client().ListFunctions, &lambda.ListFunctionsInput{})
}
