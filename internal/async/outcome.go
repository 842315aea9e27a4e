package async

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hearthfn/hearth/internal/control"
)

// record is Lambda's invocation record, as destinations receive it. Field order is
// AWS's.
type record struct {
	Version         string           `json:"version"`
	Timestamp       string           `json:"timestamp"`
	RequestContext  requestContext   `json:"requestContext"`
	RequestPayload  json.RawMessage  `json:"requestPayload"`
	ResponseContext *responseContext `json:"responseContext,omitempty"`
	ResponsePayload json.RawMessage  `json:"responsePayload,omitempty"`
}

type requestContext struct {
	RequestID              string `json:"requestId"`
	FunctionArn            string `json:"functionArn"`
	Condition              string `json:"condition"`
	ApproximateInvokeCount int    `json:"approximateInvokeCount"`
}

type responseContext struct {
	StatusCode      int    `json:"statusCode"`
	ExecutedVersion string `json:"executedVersion"`
	FunctionError   string `json:"functionError,omitempty"`
}

// maxRecord bounds a destination record: SQS's default message size. A bigger one
// loses its response payload, then its request payload (Lambda does the same for
// SNS).
const maxRecord = 256 << 10

// outcome is where an event's end goes, and what: a destination record, and for a
// failure the original event for the dead-letter queue. When a delivery fails the
// outcome is stored as a message of its own (hdrOutcome) and retried, so it is
// never silently lost.
type outcome struct {
	Function  string   `json:"function"`
	RequestID string   `json:"requestId"`
	Lineage   int      `json:"lineage"`
	Targets   []target `json:"targets"`
	Record    []byte   `json:"record,omitempty"`
	// The dead letter: the event as sent, and why it failed.
	Payload      []byte `json:"payload,omitempty"`
	ErrorCode    string `json:"errorCode,omitempty"`
	ErrorMessage string `json:"errorMessage,omitempty"`
	// Retries of a failed delivery.
	FirstFailure time.Time `json:"firstFailure,omitzero"`
	Tries        int       `json:"tries,omitempty"`
}

type target struct {
	ARN        string `json:"arn"`
	DeadLetter bool   `json:"deadLetter,omitempty"` // the function's DLQ, not a destination
}

// qualifiedArn is the ARN a record names: an unqualified invoke is $LATEST's.
func qualifiedArn(t *control.InvokeTarget) string {
	if strings.Count(t.FunctionArn, ":") >= 7 {
		return t.FunctionArn
	}
	return t.FunctionArn + ":$LATEST"
}

// newRecord builds e's record. res is nil when the function never ran.
func (q *Queue) newRecord(e *Event, t *control.InvokeTarget, condition string, res *Result) []byte {
	r := record{
		Version:   "1.0",
		Timestamp: q.now().UTC().Format("2006-01-02T15:04:05.000Z"),
		RequestContext: requestContext{
			RequestID: e.RequestID, FunctionArn: qualifiedArn(t),
			Condition: condition, ApproximateInvokeCount: e.Attempts,
		},
		RequestPayload: jsonOrString(e.Payload),
	}
	if res != nil {
		r.ResponseContext = &responseContext{StatusCode: 200, ExecutedVersion: res.ExecutedVersion, FunctionError: res.FunctionError}
		r.ResponsePayload = jsonOrString(res.Payload)
		if len(res.Payload) == 0 {
			r.ResponsePayload = json.RawMessage("null")
		}
	}
	b, _ := json.Marshal(r)
	if len(b) > maxRecord && r.ResponsePayload != nil {
		r.ResponsePayload = json.RawMessage("null")
		b, _ = json.Marshal(r)
	}
	if len(b) > maxRecord {
		r.RequestPayload = json.RawMessage("null")
		b, _ = json.Marshal(r)
	}
	return b
}

// jsonOrString embeds b as JSON: as is when it is JSON, as a string otherwise (a
// custom runtime may answer anything).
func jsonOrString(b []byte) json.RawMessage {
	if len(b) == 0 {
		return json.RawMessage("{}")
	}
	if json.Valid(b) {
		return json.RawMessage(b)
	}
	s, _ := json.Marshal(string(b))
	return s
}

// succeed delivers the success record, if the qualifier's config has a
// destination for it, and lets go of m.
func (q *Queue) succeed(m jetstream.Msg, e *Event, t *control.InvokeTarget, cfg control.AsyncConfig, res *Result) {
	if cfg.OnSuccess == "" {
		_ = m.Ack()
		return
	}
	q.finish(m, &outcome{
		Function: e.FunctionName, RequestID: e.RequestID, Lineage: e.Lineage,
		Targets: []target{{ARN: cfg.OnSuccess}},
		Record:  q.newRecord(e, t, condSuccess, res),
	})
}

// fail delivers the failure record to the on-failure destination and the event to
// the function's dead-letter queue (both, when both are set), and lets go of m.
func (q *Queue) fail(m jetstream.Msg, e *Event, t *control.InvokeTarget, cfg control.AsyncConfig, condition string, res *Result) {
	st := q.stats.function(e.FunctionName)
	st.failed(condition)
	o := &outcome{Function: e.FunctionName, RequestID: e.RequestID, Lineage: e.Lineage}
	if cfg.OnFailure != "" {
		o.Targets = append(o.Targets, target{ARN: cfg.OnFailure})
		o.Record = q.newRecord(e, t, condition, res)
	}
	if t.DeadLetterArn != "" {
		o.Targets = append(o.Targets, target{ARN: t.DeadLetterArn, DeadLetter: true})
		o.Payload = e.Payload
		o.ErrorCode, o.ErrorMessage = deadLetterError(condition, res)
	}
	q.log.Info("async: event failed", "function", e.FunctionName, "requestId", e.RequestID, "condition", condition, "attempts", e.Attempts, "targets", len(o.Targets))
	if len(o.Targets) == 0 {
		_ = m.Ack()
		return
	}
	q.finish(m, o)
}

// deadLetterError is the ErrorCode and ErrorMessage attributes of a dead letter:
// for a function error, Lambda's 200 and the function's errorMessage.
func deadLetterError(condition string, res *Result) (code, message string) {
	if res != nil {
		var doc struct {
			ErrorMessage string `json:"errorMessage"`
		}
		if json.Unmarshal(res.Payload, &doc) != nil || doc.ErrorMessage == "" {
			doc.ErrorMessage = string(res.Payload)
		}
		return "200", truncate(doc.ErrorMessage, 1024)
	}
	switch condition {
	case condZeroReserved:
		return "429", "The function's reserved concurrency is 0: it takes no invocations."
	case condRecursion:
		return "400", "Lambda detected a recursive loop and stopped the invocation after 16 invocations of its request chain."
	}
	return "429", "The event reached its maximum age before it could run."
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// finish delivers o and lets go of m; what could not be delivered is stored to be
// retried first. If even that fails, m comes back and its attempt's outcome is
// decided again (at least once).
func (q *Queue) finish(m jetstream.Msg, o *outcome) {
	ctx, cancel := context.WithTimeout(q.ctx, 30*time.Second)
	defer cancel()
	if left := q.deliver(ctx, o); len(left) > 0 {
		o.Targets = left
		o.FirstFailure = q.now()
		o.Tries = 1
		if err := q.storeOutcome(ctx, o); err != nil {
			q.log.Warn("async: store an undelivered outcome; the event comes back", "function", o.Function, "requestId", o.RequestID, "err", err)
			_ = m.NakWithDelay(q.scaled(minThrottleDelay))
			return
		}
	}
	_ = m.Ack()
}

// deliver sends o to each of its targets and returns those that failed.
func (q *Queue) deliver(ctx context.Context, o *outcome) []target {
	st := q.stats.function(o.Function)
	var left []target
	for _, tg := range o.Targets {
		err := q.send(ctx, o, tg)
		if err == nil {
			continue
		}
		left = append(left, tg)
		if tg.DeadLetter {
			st.deadLetterErrors.Add(1)
		} else {
			st.destinationFailures.Add(1)
		}
		q.log.Warn("async: delivery failed; it will be retried", "function", o.Function, "requestId", o.RequestID, "target", tg.ARN, "deadLetterQueue", tg.DeadLetter, "err", err)
	}
	return left
}

// send delivers o to one target: a Lambda function (invoked asynchronously with
// the record) or an SQS queue Hearth serves.
func (q *Queue) send(ctx context.Context, o *outcome, tg target) error {
	parts := strings.SplitN(tg.ARN, ":", 8)
	if len(parts) < 6 || parts[0] != "arn" {
		return fmt.Errorf("not an ARN: %q", tg.ARN)
	}
	if parts[3] != q.cfg.Registry.Region() || parts[4] != q.cfg.Registry.AccountID() {
		return fmt.Errorf("%s is not in this server's region and account", tg.ARN)
	}
	switch parts[2] {
	case "lambda":
		if tg.DeadLetter || len(parts) < 7 || parts[5] != "function" {
			return fmt.Errorf("%s is not a function", tg.ARN)
		}
		fn, qual := parts[6], ""
		if len(parts) == 8 {
			qual = parts[7]
		}
		if _, err := q.cfg.Registry.ResolveInvoke(ctx, fn, qual); err != nil {
			return err
		}
		return q.Enqueue(ctx, &Event{RequestID: newRequestID(), FunctionName: fn, Qualifier: qual, Payload: o.Record, Lineage: o.Lineage + 1})
	case "sqs":
		if q.cfg.Queues == nil {
			return errors.New("this server has no queue service")
		}
		if tg.DeadLetter {
			return q.cfg.Queues.SendToQueue(ctx, tg.ARN, string(o.Payload), map[string]Attribute{
				"RequestID":    {DataType: "String", Value: o.RequestID},
				"ErrorCode":    {DataType: "Number", Value: o.ErrorCode},
				"ErrorMessage": {DataType: "String", Value: o.ErrorMessage},
			}, o.Lineage)
		}
		return q.cfg.Queues.SendToQueue(ctx, tg.ARN, string(o.Record), nil, o.Lineage)
	}
	return fmt.Errorf("hearth cannot deliver to %s", tg.ARN)
}

// storeOutcome stores o on its function's subject, to be delivered again.
func (q *Queue) storeOutcome(ctx context.Context, o *outcome) error {
	b, err := json.Marshal(o)
	if err != nil {
		return err
	}
	m := nats.NewMsg(subjectOf(o.Function))
	m.Data = b
	m.Header.Set(hdrOutcome, "1")
	m.Header.Set(nats.MsgIdHdr, o.RequestID+"/outcome/"+strconv.Itoa(o.Tries))
	delay := min(minThrottleDelay<<min(o.Tries, 16), maxThrottleDelay)
	m.Header.Set(hdrNotBefore, strconv.FormatInt(q.now().Add(q.scaled(delay)).UnixMilli(), 10))
	_, err = q.js.PublishMsg(ctx, m)
	if err == nil {
		q.wake(o.Function)
	}
	return err
}

// maxDeliveryAge is how long a failed delivery is retried before the outcome is
// dropped (counted and logged): an event's own longest life.
const maxDeliveryAge = 6 * time.Hour

// redeliver retries an outcome whose delivery failed.
func (q *Queue) redeliver(m jetstream.Msg) {
	var o outcome
	if err := json.Unmarshal(m.Data(), &o); err != nil || o.Function == "" {
		q.log.Warn("async: dropped a malformed outcome message")
		_ = m.Ack()
		return
	}
	if nb, ok := millis(m.Headers().Get(hdrNotBefore)); ok {
		if wait := nb.Sub(q.now()); wait > 0 {
			_ = m.NakWithDelay(wait)
			return
		}
	}
	ctx, cancel := context.WithTimeout(q.ctx, 30*time.Second)
	defer cancel()
	left := q.deliver(ctx, &o)
	if len(left) == 0 {
		_ = m.Ack()
		return
	}
	if q.now().Sub(o.FirstFailure) > q.scaled(maxDeliveryAge) {
		q.stats.function(o.Function).outcomesDropped.Add(1)
		q.log.Error("async: gave up delivering an outcome", "function", o.Function, "requestId", o.RequestID, "targets", len(left), "since", o.FirstFailure)
		_ = m.Ack()
		return
	}
	o.Targets = left
	o.Tries++
	if err := q.storeOutcome(ctx, &o); err != nil {
		_ = m.NakWithDelay(q.scaled(minThrottleDelay))
		return
	}
	_ = m.Ack()
}

// newRequestID is a fresh Lambda request id for a destination's invocation.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
