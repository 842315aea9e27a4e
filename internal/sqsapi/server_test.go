package sqsapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/hearthfn/hearth/internal/session"
	"github.com/hearthfn/hearth/internal/sqs"
	"github.com/hearthfn/hearth/internal/store"
)

const (
	testKey    = "AKIDTEST"
	testSecret = "secret"
	testAcct   = "123456789012"
)

func newServer(t testing.TB) (*httptest.Server, *awssqs.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := store.Open(ctx, store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	q, err := sqs.Open(ctx, sqs.Config{JetStream: st.JetStream(), Region: "us-east-1", AccountID: testAcct})
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	srv := httptest.NewServer(New(Config{Queues: q, Credentials: map[string]string{testKey: testSecret}}))
	t.Cleanup(func() { srv.Close(); q.Close(); st.Close() })
	client := awssqs.New(awssqs.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider(testKey, testSecret, ""),
	})
	return srv, client
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestSDKChecksums sends and receives through aws-sdk-go-v2, which verifies
// MD5OfMessageBody and MD5OfMessageAttributes on both: a wrong digest fails the call.
func TestSDKChecksums(t *testing.T) {
	_, c := newServer(t)
	ctx := ctxT(t)
	cq, err := c.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String("md5")})
	if err != nil {
		t.Fatal(err)
	}
	attrs := map[string]types.MessageAttributeValue{
		"s":        {DataType: aws.String("String"), StringValue: aws.String("välue")},
		"n":        {DataType: aws.String("Number.int"), StringValue: aws.String("42")},
		"b":        {DataType: aws.String("Binary"), BinaryValue: []byte{0, 1, 2, 255}},
		"an.other": {DataType: aws.String("String.custom"), StringValue: aws.String("x")},
	}
	sys := map[string]types.MessageSystemAttributeValue{
		"AWSTraceHeader": {DataType: aws.String("String"), StringValue: aws.String("Root=1-5759e988-bd862e3fe1be46a994272793")},
	}
	out, err := c.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: cq.QueueUrl, MessageBody: aws.String("body\r\n\twith ünïcode 🚀"),
		MessageAttributes: attrs, MessageSystemAttributes: sys})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.MD5OfMessageSystemAttributes) == "" {
		t.Fatal("no system attributes digest")
	}
	rec, err := c.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: cq.QueueUrl, MessageAttributeNames: []string{"All"},
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{"All"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Messages) != 1 || aws.ToString(rec.Messages[0].Body) != "body\r\n\twith ünïcode 🚀" || len(rec.Messages[0].MessageAttributes) != 4 {
		t.Fatalf("got %+v", rec.Messages)
	}
	if rec.Messages[0].Attributes["AWSTraceHeader"] == "" {
		t.Fatalf("no trace header: %v", rec.Messages[0].Attributes)
	}
	// Prefix selection.
	if _, err := c.ChangeMessageVisibility(ctx, &awssqs.ChangeMessageVisibilityInput{QueueUrl: cq.QueueUrl, ReceiptHandle: rec.Messages[0].ReceiptHandle, VisibilityTimeout: 0}); err != nil {
		t.Fatal(err)
	}
	rec, err = c.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: cq.QueueUrl, MessageAttributeNames: []string{"an.*", "s"}, WaitTimeSeconds: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Messages) != 1 || len(rec.Messages[0].MessageAttributes) != 2 {
		t.Fatalf("prefix selection: %+v", rec.Messages)
	}
	if _, err := c.DeleteMessage(ctx, &awssqs.DeleteMessageInput{QueueUrl: cq.QueueUrl, ReceiptHandle: rec.Messages[0].ReceiptHandle}); err != nil {
		t.Fatal(err)
	}
}

func TestSDKErrors(t *testing.T) {
	_, c := newServer(t)
	ctx := ctxT(t)
	_, err := c.GetQueueUrl(ctx, &awssqs.GetQueueUrlInput{QueueName: aws.String("nope")})
	var qdne *types.QueueDoesNotExist
	if !errors.As(err, &qdne) {
		t.Fatalf("want QueueDoesNotExist, got %v", err)
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "AWS.SimpleQueueService.NonExistentQueue" {
		t.Fatalf("code %v", err)
	}
	cq, err := c.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String("e")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.SetQueueAttributes(ctx, &awssqs.SetQueueAttributesInput{QueueUrl: cq.QueueUrl, Attributes: map[string]string{"Bogus": "1"}})
	if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidAttributeName" {
		t.Fatalf("bad attribute: %v", err)
	}
	_, err = c.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: cq.QueueUrl, MessageBody: aws.String(strings.Repeat("x", 1048577))})
	if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidParameterValue" {
		t.Fatalf("too long: %v", err)
	}
	_, err = c.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: cq.QueueUrl, MessageBody: aws.String("bad \x01")})
	if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidMessageContents" {
		t.Fatalf("bad char: %v", err)
	}
	bo, err := c.SendMessageBatch(ctx, &awssqs.SendMessageBatchInput{QueueUrl: cq.QueueUrl, Entries: []types.SendMessageBatchRequestEntry{
		{Id: aws.String("a"), MessageBody: aws.String("ok")},
		{Id: aws.String("b"), MessageBody: aws.String("ok"), DelaySeconds: 901},
	}})
	if err != nil || len(bo.Successful) != 1 || len(bo.Failed) != 1 || aws.ToString(bo.Failed[0].Code) != "InvalidParameterValue" {
		t.Fatalf("batch: %v %+v", err, bo)
	}
	_, err = c.SendMessageBatch(ctx, &awssqs.SendMessageBatchInput{QueueUrl: cq.QueueUrl, Entries: []types.SendMessageBatchRequestEntry{
		{Id: aws.String("a"), MessageBody: aws.String("ok")}, {Id: aws.String("a"), MessageBody: aws.String("ok")},
	}})
	var dup *types.BatchEntryIdsNotDistinct
	if !errors.As(err, &dup) {
		t.Fatalf("duplicate ids: %v", err)
	}
}

// signedPost sends a query-protocol request signed for sqs.
func signedPost(t *testing.T, srv *httptest.Server, path string, form url.Values) (int, string) {
	t.Helper()
	body := form.Encode()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	sum := sha256Hex(body)
	signer := v4.NewSigner()
	if err := signer.SignHTTP(context.Background(), aws.Credentials{AccessKeyID: testKey, SecretAccessKey: testSecret}, req, sum, "sqs", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestQueryProtocol(t *testing.T) {
	srv, _ := newServer(t)
	status, body := signedPost(t, srv, "/", url.Values{"Action": {"CreateQueue"}, "Version": {"2012-11-05"}, "QueueName": {"qp"},
		"Attribute.1.Name": {"VisibilityTimeout"}, "Attribute.1.Value": {"5"}, "Tag.1.Key": {"team"}, "Tag.1.Value": {"a"}})
	if status != 200 || !strings.Contains(body, "<QueueUrl>http://") || !strings.Contains(body, "/"+testAcct+"/qp</QueueUrl>") {
		t.Fatalf("create: %d %s", status, body)
	}
	status, body = signedPost(t, srv, "/"+testAcct+"/qp", url.Values{"Action": {"SendMessage"}, "MessageBody": {"hi <there>"},
		"MessageAttribute.1.Name": {"k"}, "MessageAttribute.1.Value.DataType": {"String"}, "MessageAttribute.1.Value.StringValue": {"v"}})
	if status != 200 || !strings.Contains(body, "<MD5OfMessageBody>") || !strings.Contains(body, "<MD5OfMessageAttributes>") {
		t.Fatalf("send: %d %s", status, body)
	}
	status, body = signedPost(t, srv, "/", url.Values{"Action": {"ReceiveMessage"}, "QueueUrl": {srv.URL + "/" + testAcct + "/qp"},
		"AttributeName.1": {"All"}, "MessageAttributeName.1": {"All"}})
	if status != 200 || !strings.Contains(body, "<Body>hi &lt;there&gt;</Body>") || !strings.Contains(body, "<Name>ApproximateReceiveCount</Name><Value>1</Value>") ||
		!strings.Contains(body, "<MessageAttribute><Name>k</Name><Value><StringValue>v</StringValue><DataType>String</DataType></Value></MessageAttribute>") {
		t.Fatalf("receive: %d %s", status, body)
	}
	status, body = signedPost(t, srv, "/", url.Values{"Action": {"GetQueueUrl"}, "QueueName": {"missing"}})
	want := "<Error><Type>Sender</Type><Code>AWS.SimpleQueueService.NonExistentQueue</Code><Message>The specified queue does not exist for this wsdl version.</Message><Detail/></Error><RequestId>"
	if status != 400 || !strings.Contains(body, "<ErrorResponse") || !strings.Contains(body, want) {
		t.Fatalf("error: %d %s", status, body)
	}
	status, body = signedPost(t, srv, "/", url.Values{"Action": {"GetQueueAttributes"}, "QueueUrl": {srv.URL + "/" + testAcct + "/qp"}, "AttributeName.1": {"Nope"}})
	if status != 400 || !strings.Contains(body, "<Code>InvalidAttributeName</Code>") {
		t.Fatalf("bad attribute: %d %s", status, body)
	}
	status, body = signedPost(t, srv, "/", url.Values{"Action": {"ListQueueTags"}, "QueueUrl": {srv.URL + "/" + testAcct + "/qp"}})
	if status != 200 || !strings.Contains(body, "<Tag><Key>team</Key><Value>a</Value></Tag>") {
		t.Fatalf("tags: %d %s", status, body)
	}
}

func TestUnsignedAndOversized(t *testing.T) {
	srv, _ := newServer(t)
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/", strings.NewReader("{}"))
	req.Header.Set("X-Amz-Target", "AmazonSQS.ListQueues")
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || !strings.Contains(string(b), `"__type":"com.amazonaws.sqs#MissingAuthenticationToken"`) || resp.Header.Get("x-amzn-query-error") == "" {
		t.Fatalf("unsigned: %d %s %v", resp.StatusCode, b, resp.Header)
	}
	req, _ = http.NewRequest(http.MethodPost, srv.URL+"/", strings.NewReader(strings.Repeat("x", MaxRequestBytes+1)))
	req.Header.Set("X-Amz-Target", "AmazonSQS.SendMessage")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Fatalf("oversized: %d", resp.StatusCode)
	}
}

// TestSessionCredentials: an env's temporary credentials use the queues of their
// account; an expired or forged token is refused.
func TestSessionCredentials(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := store.Open(ctx, store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	q, err := sqs.Open(ctx, sqs.Config{JetStream: st.JetStream(), Region: "us-east-1", AccountID: testAcct})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	iss, err := session.NewIssuer(make([]byte, 32), testAcct, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(New(Config{Queues: q, Credentials: map[string]string{testKey: testSecret}, Sessions: iss}))
	defer srv.Close()
	creds, err := iss.Mint("fn", "arn:aws:iam::"+testAcct+":role/r")
	if err != nil {
		t.Fatal(err)
	}
	client := func(token string) *awssqs.Client {
		return awssqs.New(awssqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), Retryer: aws.NopRetryer{},
			Credentials: credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, token)})
	}
	c := client(creds.SessionToken)
	out, err := c.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String("env")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: out.QueueUrl, MessageBody: aws.String("from an env")}); err != nil {
		t.Fatal(err)
	}
	r, err := c.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: out.QueueUrl, MessageSystemAttributeNames: []types.MessageSystemAttributeName{"SenderId"}})
	if err != nil || len(r.Messages) != 1 || !strings.HasPrefix(r.Messages[0].Attributes["SenderId"], "AROA") {
		t.Fatalf("receive: %v %+v", err, r)
	}
	_, err = client(creds.SessionToken+"x").ListQueues(ctx, &awssqs.ListQueuesInput{})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidClientTokenId" {
		t.Fatalf("forged token: %v", err)
	}
}
