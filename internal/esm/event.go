package esm

import (
	"bytes"
	"encoding/json"
)

// Message is one received SQS message, as the queue service answers a receive that
// asks for every system attribute and every message attribute.
type Message struct {
	MessageId              string
	ReceiptHandle          string
	Body                   string
	MD5OfBody              string
	MD5OfMessageAttributes string
	Attributes             map[string]string
	MessageAttributes      map[string]MessageAttribute
}

// MessageAttribute is one sender-set attribute.
type MessageAttribute struct {
	DataType         string
	StringValue      *string
	BinaryValue      []byte
	StringListValues []string
	BinaryListValues [][]byte
}

// record is one entry of the event's Records, its keys in the order Lambda sends
// them (encoding/json keeps a struct's field order).
type record struct {
	MessageId              string                   `json:"messageId"`
	ReceiptHandle          string                   `json:"receiptHandle"`
	Body                   string                   `json:"body"`
	Attributes             systemAttributes         `json:"attributes"`
	MessageAttributes      map[string]eventAttValue `json:"messageAttributes"`
	MD5OfMessageAttributes *string                  `json:"md5OfMessageAttributes"`
	MD5OfBody              string                   `json:"md5OfBody"`
	EventSource            string                   `json:"eventSource"`
	EventSourceARN         string                   `json:"eventSourceARN"`
	AWSRegion              string                   `json:"awsRegion"`
}

// eventAttValue is a message attribute as Lambda renders it: lowerCamel keys, the
// list members always present (SQS reserves them), the binary value base64.
type eventAttValue struct {
	StringValue      *string  `json:"stringValue,omitempty"`
	BinaryValue      []byte   `json:"binaryValue,omitempty"`
	StringListValues []string `json:"stringListValues"`
	BinaryListValues [][]byte `json:"binaryListValues"`
	DataType         string   `json:"dataType"`
}

// systemAttributes renders in Lambda's order; a map would come out sorted.
type systemAttributes map[string]string

// attributeOrder is the order of Lambda's SQS events (AWS's documented examples:
// ApproximateReceiveCount, SentTimestamp, SequenceNumber, MessageGroupId, SenderId,
// MessageDeduplicationId, ApproximateFirstReceiveTimestamp).
var attributeOrder = []string{
	"ApproximateReceiveCount", "AWSTraceHeader", "SentTimestamp", "SequenceNumber", "MessageGroupId",
	"SenderId", "MessageDeduplicationId", "ApproximateFirstReceiveTimestamp", "DeadLetterQueueSourceArn",
}

// eventAttributes are the system attributes an event carries; a receive asking for
// All also answers SqsManagedSseEnabled, which Lambda's events do not have.
var eventAttributes = func() map[string]bool {
	m := map[string]bool{}
	for _, a := range attributeOrder {
		m[a] = true
	}
	return m
}()

func (a systemAttributes) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	first := true
	for _, k := range attributeOrder {
		v, ok := a[k]
		if !ok {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		kb, _ := json.Marshal(k)
		vb, _ := json.Marshal(v)
		b.Write(kb)
		b.WriteByte(':')
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// newRecord shapes one message as Lambda's SQS event record.
func newRecord(m *Message, queueArn, region string) record {
	r := record{
		MessageId:         m.MessageId,
		ReceiptHandle:     m.ReceiptHandle,
		Body:              m.Body,
		Attributes:        systemAttributes{},
		MessageAttributes: map[string]eventAttValue{},
		MD5OfBody:         m.MD5OfBody,
		EventSource:       "aws:sqs",
		EventSourceARN:    queueArn,
		AWSRegion:         region,
	}
	for k, v := range m.Attributes {
		if eventAttributes[k] {
			r.Attributes[k] = v
		}
	}
	for k, v := range m.MessageAttributes {
		ev := eventAttValue{StringValue: v.StringValue, BinaryValue: v.BinaryValue, StringListValues: v.StringListValues, BinaryListValues: v.BinaryListValues, DataType: v.DataType}
		if ev.StringListValues == nil {
			ev.StringListValues = []string{}
		}
		if ev.BinaryListValues == nil {
			ev.BinaryListValues = [][]byte{}
		}
		r.MessageAttributes[k] = ev
	}
	if len(m.MessageAttributes) > 0 && m.MD5OfMessageAttributes != "" {
		md5 := m.MD5OfMessageAttributes
		r.MD5OfMessageAttributes = &md5
	}
	return r
}

// eventEnvelope is how much {"Records":[…]} adds to its records.
const eventEnvelope = len(`{"Records":[]}`)

// encodeRecord renders one record; its size counts against the 6 MB payload.
func encodeRecord(r *record) []byte {
	b, _ := json.Marshal(r)
	return b
}

// encodeEvent joins rendered records into the event.
func encodeEvent(records [][]byte) []byte {
	n := eventEnvelope
	for _, r := range records {
		n += len(r) + 1
	}
	out := make([]byte, 0, n)
	out = append(out, `{"Records":[`...)
	for i, r := range records {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, r...)
	}
	return append(out, "]}"...)
}

// filterView is the record as filter patterns see it: body parsed when it is JSON
// (Lambda matches body patterns against the parsed body, and only plain-string
// conditions against a body that is not JSON).
func filterView(r *record) map[string]any {
	raw, _ := json.Marshal(r)
	var v map[string]any
	_ = json.Unmarshal(raw, &v)
	if body, ok := decodeJSON(r.Body); ok {
		v["body"] = body
	}
	return v
}

func decodeJSON(s string) (any, bool) {
	var v any
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	if err := dec.Decode(&v); err != nil || dec.More() {
		return nil, false
	}
	return v, true
}
