package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
)

// sqsClient is an SQS client (AWS JSON protocol) for s, retries off.
func (s *server) sqsClient() *awssqs.Client { return s.sqsClientWith(aws.NopRetryer{}) }

// sqsRetryingClient retries throttles and transient errors as a real application
// would (nil: the SDK's standard retryer), for tests that move many messages on a
// loaded host and assert what arrives, not how each call went.
func (s *server) sqsRetryingClient() *awssqs.Client { return s.sqsClientWith(nil) }

func (s *server) sqsClientWith(retryer aws.Retryer) *awssqs.Client {
	return awssqs.New(awssqs.Options{
		Region:       region,
		BaseEndpoint: aws.String(s.url()),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: s.keyID, SecretAccessKey: s.secret, Source: "hearth-e2e"}, nil
		}),
		Retryer:    retryer,
		HTTPClient: awshttp.NewBuildableClient().WithTimeout(2 * callTimeout),
	})
}

// createQueue creates a queue with a unique name and returns its name and URL.
func createQueue(t testing.TB, c *awssqs.Client, prefix string, attrs map[string]string) (string, string) {
	t.Helper()
	name := uniqueName(prefix)
	if strings.HasSuffix(prefix, ".fifo") {
		name = uniqueName(strings.TrimSuffix(prefix, ".fifo")) + ".fifo"
	}
	out, err := c.CreateQueue(ctxT(t), &awssqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		t.Fatalf("create queue %s: %v", name, err)
	}
	return name, aws.ToString(out.QueueUrl)
}

// sqsQuery sends a query-protocol request (a form, as the AWS CLI v2 from Debian
// sends it), signed for service sqs, to path.
func (s *server) sqsQuery(t testing.TB, path string, form url.Values) rawResponse {
	t.Helper()
	if form.Get("Version") == "" {
		form.Set("Version", "2012-11-05")
	}
	body := []byte(form.Encode())
	req, err := http.NewRequestWithContext(ctxT(t), http.MethodPost, s.url()+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: s.keyID, SecretAccessKey: s.secret},
		req, hex.EncodeToString(sum[:]), "sqs", region, time.Now()); err != nil {
		t.Fatal(err)
	}
	return doRaw(t, req)
}

// sqsJSON sends an AWS JSON 1.0 request signed for sqs.
func (s *server) sqsJSON(t testing.TB, op string, body []byte) rawResponse {
	t.Helper()
	req, err := http.NewRequestWithContext(ctxT(t), http.MethodPost, s.url()+"/", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", "AmazonSQS."+op)
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: s.keyID, SecretAccessKey: s.secret},
		req, hex.EncodeToString(sum[:]), "sqs", region, time.Now()); err != nil {
		t.Fatal(err)
	}
	return doRaw(t, req)
}

func doRaw(t testing.TB, req *http.Request) rawResponse {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return rawResponse{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// boto3 runs a Python script with the bundled boto3 (bin/sdk/python) against s.
// The script gets `sqs`, a client for s, and prints one JSON document, which is
// returned decoded.
func (s *server) boto3(t testing.TB, script string) map[string]any {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	sdk := filepath.Join(root, "bin", "sdk", "python")
	if _, err := os.Stat(filepath.Join(sdk, "boto3")); err != nil {
		t.Skipf("the bundled boto3 is not built (make sdk): %v", err)
	}
	prelude := "import json, boto3, botocore\n" +
		"from botocore.config import Config\n" +
		"sqs = boto3.client('sqs', endpoint_url='" + s.url() + "', config=Config(retries={'max_attempts': 1}))\n"
	ctx, cancel := context.WithTimeout(context.Background(), 2*callTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/usr/bin/python3", "-c", prelude+script)
	cmd.Env = append(os.Environ(), "PYTHONPATH="+sdk, "AWS_ACCESS_KEY_ID="+s.keyID, "AWS_SECRET_ACCESS_KEY="+s.secret,
		"AWS_DEFAULT_REGION="+region, "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("boto3 script: %v\n%s\n%s", err, out, stderr.String())
	}
	var doc map[string]any
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("boto3 script printed %q: %v\n%s", out, err, stderr.String())
	}
	return doc
}
