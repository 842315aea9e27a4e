package async

import (
	"encoding/json"
	"testing"

	"github.com/nats-io/nats.go"
)

// FuzzEventMessage: whatever sits in an event message's headers (someone with
// access to Hearth's NATS can publish anything there), decoding never panics, and
// what decodes re-encodes to the same event. LineageOf takes any trace header.
func FuzzEventMessage(f *testing.F) {
	f.Add("r1", "live", "1733220000000", "2", "1", "3", "1733220060000", `{"a":1}`, "Root=1-x;Lineage=a87bd80c:3")
	f.Add("", "", "", "", "", "", "", "", "")
	f.Add("r", "$LATEST", "-5", "x", "-1", "99999999999999999999", "0", "not json", "Lineage=:")
	f.Fuzz(func(t *testing.T, id, qual, accepted, lineage, attempts, throttles, notBefore, payload, trace string) {
		_ = LineageOf(trace)
		h := nats.Header{}
		for k, v := range map[string]string{hdrRequestID: id, hdrQualifier: qual, hdrAccepted: accepted, hdrLineage: lineage,
			hdrAttempts: attempts, hdrThrottles: throttles, hdrNotBefore: notBefore} {
			if v != "" {
				h.Set(k, v)
			}
		}
		e, ok := eventOf("fn", h, []byte(payload))
		if !ok {
			return
		}
		if e.RequestID == "" || e.Accepted.IsZero() || e.Lineage < 0 || e.Attempts < 0 || e.Throttles < 0 {
			t.Fatalf("decoded an invalid event %+v", e)
		}
		m := e.message(subjectOf("fn"))
		again, ok := eventOf("fn", m.Header, m.Data)
		if !ok {
			t.Fatalf("re-encoded event does not decode: %+v", m.Header)
		}
		a, _ := json.Marshal(e)
		b, _ := json.Marshal(again)
		if string(a) != string(b) {
			t.Fatalf("round trip changed the event:\n%s\n%s", a, b)
		}
	})
}
