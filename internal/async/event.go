package async

import (
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// Event is one accepted Event invocation, as it waits in the queue between
// attempts. Everything that must survive a restart is in it; the queue message
// carries it as headers beside the payload, so the payload is stored as the caller
// sent it.
type Event struct {
	RequestID     string // the Invoke's request id; every attempt keeps it
	FunctionName  string
	Qualifier     string // as invoked ("" = unqualified): its EventInvokeConfig is the one in force
	Payload       []byte
	ClientContext string
	// Lineage counts the invocations of the request chain this event belongs to,
	// this one included; past maxLineage Lambda's loop detection stops it.
	Lineage int
	// Accepted is when Invoke answered 202; the event's age counts from it.
	Accepted time.Time
	// Attempts is how many times the function ran with this event (Lambda's
	// approximateInvokeCount); only function errors use up retries.
	Attempts int
	// Throttles is how many attempts in a row were refused before running
	// (throttles, host capacity, Hearth-side failures): the backoff's exponent.
	Throttles int
	// NotBefore is when the next attempt may start.
	NotBefore time.Time
}

// Headers of an event message. Nats-Msg-Id makes a publish that is retried (after a
// lost acknowledgement) store the event once.
const (
	hdrRequestID     = "Hearth-Request-Id"
	hdrQualifier     = "Hearth-Qualifier"
	hdrClientContext = "Hearth-Client-Context"
	hdrLineage       = "Hearth-Lineage"
	hdrAccepted      = "Hearth-Accepted"
	hdrAttempts      = "Hearth-Attempts"
	hdrThrottles     = "Hearth-Throttles"
	hdrNotBefore     = "Hearth-Not-Before"
	// hdrOutcome marks a message that is not an event but an outcome (a destination
	// record or a dead letter) whose delivery failed and waits to be retried.
	hdrOutcome = "Hearth-Outcome"
)

// message encodes e for subject.
func (e *Event) message(subject string) *nats.Msg {
	m := nats.NewMsg(subject)
	m.Data = e.Payload
	h := m.Header
	h.Set(nats.MsgIdHdr, e.RequestID+"/"+strconv.Itoa(e.Attempts)+"/"+strconv.Itoa(e.Throttles))
	h.Set(hdrRequestID, e.RequestID)
	if e.Qualifier != "" {
		h.Set(hdrQualifier, e.Qualifier)
	}
	if e.ClientContext != "" {
		h.Set(hdrClientContext, e.ClientContext)
	}
	h.Set(hdrLineage, strconv.Itoa(e.Lineage))
	h.Set(hdrAccepted, strconv.FormatInt(e.Accepted.UnixMilli(), 10))
	if e.Attempts > 0 {
		h.Set(hdrAttempts, strconv.Itoa(e.Attempts))
	}
	if e.Throttles > 0 {
		h.Set(hdrThrottles, strconv.Itoa(e.Throttles))
	}
	if !e.NotBefore.IsZero() {
		h.Set(hdrNotBefore, strconv.FormatInt(e.NotBefore.UnixMilli(), 10))
	}
	return m
}

// eventOf decodes an event message of function fn. A message that is not one (it
// could only come from someone publishing on Hearth's subjects) is refused.
func eventOf(fn string, h nats.Header, data []byte) (*Event, bool) {
	e := &Event{
		RequestID:     h.Get(hdrRequestID),
		FunctionName:  fn,
		Qualifier:     h.Get(hdrQualifier),
		Payload:       data,
		ClientContext: h.Get(hdrClientContext),
	}
	if e.RequestID == "" {
		return nil, false
	}
	var ok bool
	if e.Accepted, ok = millis(h.Get(hdrAccepted)); !ok {
		return nil, false
	}
	e.NotBefore, _ = millis(h.Get(hdrNotBefore))
	e.Lineage, _ = strconv.Atoi(h.Get(hdrLineage))
	e.Attempts, _ = strconv.Atoi(h.Get(hdrAttempts))
	e.Throttles, _ = strconv.Atoi(h.Get(hdrThrottles))
	if e.Lineage < 0 || e.Attempts < 0 || e.Throttles < 0 {
		return nil, false
	}
	return e, true
}

func millis(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}, false
	}
	return time.UnixMilli(n), true
}

// Lambda's recursive loop detection: a request chain stops after this many
// invocations.
const maxLineage = 16

// LineageOf reads the invocation count of a request chain from an X-Amzn-Trace-Id
// header (or _X_AMZN_TRACE_ID): its Lineage field, HASH:COUNT. The SDKs in a
// function copy the trace id Hearth gave the invocation into every AWS call, so a
// function that invokes another, or sends to a queue that triggers one, carries the
// count along. 0 when there is none.
func LineageOf(trace string) int {
	for _, f := range strings.Split(trace, ";") {
		v, ok := strings.CutPrefix(strings.TrimSpace(f), "Lineage=")
		if !ok {
			continue
		}
		if i := strings.LastIndexByte(v, ':'); i >= 0 {
			v = v[i+1:]
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return 0
		}
		return min(n, 1<<20)
	}
	return 0
}
