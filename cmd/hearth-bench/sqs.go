package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hearthfn/hearth/internal/daemon"
)

// The "sqs" part: Hearth's SQS (internal/sqs behind internal/sqsapi) through
// aws-sdk-go-v2, against the floor of the same work done directly on the same
// JetStream by a minimal Go client over the embedded server's TCP port: a publish
// with ack to a file-backed work-queue stream (SendMessage), a fetch of one and an
// acknowledged ack (ReceiveMessage + DeleteMessage). Latencies are one caller at a
// time; throughput is concurrent callers. The goal: SendMessage p50 within 2× of
// the raw publish.

type sqsBenchResult struct {
	label              string
	noop               []time.Duration // a signed call that touches no JetStream (Hearth only)
	minimalSend        []time.Duration // SendMessage from a minimal signed HTTP client (Hearth only)
	sendLat, recvLat   []time.Duration
	sendRate, recvRate float64
}

func benchSQS(self string, n, conc int) error {
	dir, err := os.MkdirTemp("", "hearth-bench-sqs-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	srv, err := startHearth(self, dir, "none", "--nats-listen", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer srv.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	body := strings.Repeat("x", 256)

	hearth, err := benchSQSHearth(ctx, srv.addr, body, n, conc)
	if err != nil {
		return fmt.Errorf("sqs (hearth): %w", err)
	}
	raw, err := benchSQSRaw(ctx, dir, body, n, conc)
	if err != nil {
		return fmt.Errorf("sqs (raw JetStream): %w", err)
	}
	fmt.Printf("\n== SQS: %d messages of %d bytes, one caller for latencies, %d callers for throughput ==\n", n, len(body), conc)
	fmt.Printf("%-32s %12s %12s %12s %12s %14s\n", "", "send p50", "send p99", "recv+del p50", "recv+del p99", "send/s | r+d/s")
	for _, r := range []*sqsBenchResult{hearth, raw} {
		fmt.Printf("%-32s %12s %12s %12s %12s %7.0f | %.0f\n", r.label,
			percentile(r.sendLat, 0.5).Round(time.Microsecond), percentile(r.sendLat, 0.99).Round(time.Microsecond),
			percentile(r.recvLat, 0.5).Round(time.Microsecond), percentile(r.recvLat, 0.99).Round(time.Microsecond), r.sendRate, r.recvRate)
	}
	fmt.Printf("%-32s %12s %12s   (GetQueueUrl: SDK + HTTP + SigV4, no JetStream)\n", "Hearth signed no-op",
		percentile(hearth.noop, 0.5).Round(time.Microsecond), percentile(hearth.noop, 0.99).Round(time.Microsecond))
	fmt.Printf("%-32s %12s %12s   (SendMessage: a JSON body signed with SigV4 and POSTed, no SDK: the server's share)\n", "Hearth SQS, minimal client",
		percentile(hearth.minimalSend, 0.5).Round(time.Microsecond), percentile(hearth.minimalSend, 0.99).Round(time.Microsecond))
	fmt.Printf("send p50 ÷ raw publish p50: %.2f× through aws-sdk-go-v2, %.2f× from the minimal client (goal ≤ 2×: %s)\n",
		float64(percentile(hearth.sendLat, 0.5))/float64(max(percentile(raw.sendLat, 0.5), 1)),
		float64(percentile(hearth.minimalSend, 0.5))/float64(max(percentile(raw.sendLat, 0.5), 1)),
		metWhen(percentile(hearth.minimalSend, 0.5) <= 2*percentile(raw.sendLat, 0.5)))
	ratio := func(a, b time.Duration) float64 { return float64(a) / float64(max(b, 1)) }
	fmt.Printf("%-32s %11.2fx %11.2fx %11.2fx %11.2fx %6.2fx | %.2fx\n", "ratio (SQS / raw)",
		ratio(percentile(hearth.sendLat, 0.5), percentile(raw.sendLat, 0.5)), ratio(percentile(hearth.sendLat, 0.99), percentile(raw.sendLat, 0.99)),
		ratio(percentile(hearth.recvLat, 0.5), percentile(raw.recvLat, 0.5)), ratio(percentile(hearth.recvLat, 0.99), percentile(raw.recvLat, 0.99)),
		raw.sendRate/max(hearth.sendRate, 1), raw.recvRate/max(hearth.recvRate, 1))
	return nil
}

// benchSQSHearth measures the SQS API.
func benchSQSHearth(ctx context.Context, addr, body string, n, conc int) (*sqsBenchResult, error) {
	httpc := awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) { t.MaxIdleConnsPerHost = 2 * conc })
	c := awssqs.New(awssqs.Options{
		Region: "us-east-1", BaseEndpoint: aws.String("http://" + addr), HTTPClient: httpc,
		Credentials: credentials.NewStaticCredentialsProvider(benchKey, benchSecret, ""),
	})
	out, err := c.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String("bench")})
	if err != nil {
		return nil, apiError(err)
	}
	q := out.QueueUrl
	res := &sqsBenchResult{label: "Hearth SQS (aws-sdk-go-v2, JSON)"}
	send := func() error {
		_, err := c.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: q, MessageBody: &body})
		return err
	}
	for range 50 { // warm the connection and the server
		if err := send(); err != nil {
			return nil, apiError(err)
		}
	}
	if res.sendLat, err = repeat(n, send); err != nil {
		return nil, apiError(err)
	}
	if res.minimalSend, err = repeat(n, minimalSender(addr, *q, body)); err != nil {
		return nil, err
	}
	if res.noop, err = repeat(n, func() error {
		_, err := c.GetQueueUrl(ctx, &awssqs.GetQueueUrlInput{QueueName: aws.String("bench")})
		return err
	}); err != nil {
		return nil, apiError(err)
	}
	recvDel := func() error {
		r, err := c.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: q})
		if err != nil {
			return err
		}
		if len(r.Messages) != 1 {
			return fmt.Errorf("received %d messages", len(r.Messages))
		}
		_, err = c.DeleteMessage(ctx, &awssqs.DeleteMessageInput{QueueUrl: q, ReceiptHandle: r.Messages[0].ReceiptHandle})
		return err
	}
	if res.recvLat, err = repeat(n, recvDel); err != nil {
		return nil, apiError(err)
	}
	// Throughput: concurrent senders, then concurrent receivers of batches of 10
	// that delete each batch with DeleteMessageBatch.
	res.sendRate, err = rate(n, conc, send)
	if err != nil {
		return nil, apiError(err)
	}
	res.recvRate, err = drain(n+50, conc, func() (int, error) {
		r, err := c.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: q, MaxNumberOfMessages: 10})
		if err != nil || len(r.Messages) == 0 {
			return 0, err
		}
		var entries []types.DeleteMessageBatchRequestEntry
		for i, m := range r.Messages {
			entries = append(entries, types.DeleteMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), ReceiptHandle: m.ReceiptHandle})
		}
		_, err = c.DeleteMessageBatch(ctx, &awssqs.DeleteMessageBatchInput{QueueUrl: q, Entries: entries})
		return len(r.Messages), err
	})
	return res, apiError(err)
}

// benchSQSRaw measures the floor: the same operations on JetStream itself.
func benchSQSRaw(ctx context.Context, dir, body string, n, conc int) (*sqsBenchResult, error) {
	b, err := os.ReadFile(daemon.NATSCredentialsFile(dir))
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "BENCH_RAW", Subjects: []string{"bench.raw"},
		Retention: jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage})
	if err != nil {
		return nil, err
	}
	defer func() { _ = js.DeleteStream(context.Background(), "BENCH_RAW") }()
	cons, err := st.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "r", AckPolicy: jetstream.AckExplicitPolicy, AckWait: 30 * time.Second})
	if err != nil {
		return nil, err
	}
	data := []byte(body)
	res := &sqsBenchResult{label: "raw JetStream (nats.go, TCP)"}
	send := func() error {
		_, err := js.Publish(ctx, "bench.raw", data)
		return err
	}
	for range 50 {
		if err := send(); err != nil {
			return nil, err
		}
	}
	if res.sendLat, err = repeat(n, send); err != nil {
		return nil, err
	}
	recvDel := func() error {
		batch, err := cons.FetchNoWait(1)
		if err != nil {
			return err
		}
		got := 0
		for m := range batch.Messages() {
			got++
			if err := m.DoubleAck(ctx); err != nil {
				return err
			}
		}
		if got != 1 {
			return fmt.Errorf("fetched %d messages (%v)", got, batch.Error())
		}
		return nil
	}
	if res.recvLat, err = repeat(n, recvDel); err != nil {
		return nil, err
	}
	if res.sendRate, err = rate(n, conc, send); err != nil {
		return nil, err
	}
	res.recvRate, err = drain(n+50, conc, func() (int, error) {
		batch, err := cons.FetchNoWait(10)
		if err != nil {
			return 0, err
		}
		got := 0
		for m := range batch.Messages() {
			got++
			if err := m.DoubleAck(ctx); err != nil {
				return got, err
			}
		}
		return got, nil
	})
	return res, err
}

// rate runs n calls of f over conc callers and returns calls per second.
func rate(n, conc int, f func() error) (float64, error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	var firstErr atomic.Value
	t0 := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if err := f(); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return 0, err
	}
	return float64(n) / time.Since(t0).Seconds(), nil
}

// drain takes want messages with conc callers of f (which returns how many it
// took) and returns messages per second.
func drain(want, conc int, f func() (int, error)) (float64, error) {
	var got atomic.Int64
	var wg sync.WaitGroup
	var firstErr atomic.Value
	t0 := time.Now()
	deadline := t0.Add(5 * time.Minute)
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for got.Load() < int64(want) && time.Now().Before(deadline) {
				k, err := f()
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				got.Add(int64(k))
			}
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return 0, err
	}
	if got.Load() < int64(want) {
		return 0, fmt.Errorf("drained %d of %d messages in 5 minutes", got.Load(), want)
	}
	return float64(got.Load()) / time.Since(t0).Seconds(), nil
}

// minimalSender is SendMessage without the SDK: the JSON protocol's body, SigV4
// over it (the payload hash computed once, as a lean client would), one POST on a
// kept-alive connection. What it measures is the server's share of a send.
func minimalSender(addr, queueURL, body string) func() error {
	payload, _ := json.Marshal(map[string]string{"QueueUrl": queueURL, "MessageBody": body})
	sum := sha256.Sum256(payload)
	hash := hex.EncodeToString(sum[:])
	signer := v4.NewSigner()
	creds := aws.Credentials{AccessKeyID: benchKey, SecretAccessKey: benchSecret}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	return func() error {
		req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/", bytes.NewReader(payload))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/x-amz-json-1.0")
		req.Header.Set("X-Amz-Target", "AmazonSQS.SendMessage")
		if err := signer.SignHTTP(context.Background(), creds, req, hash, "sqs", "us-east-1", time.Now()); err != nil {
			return err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("SendMessage: %d %s", resp.StatusCode, b)
		}
		return nil
	}
}
