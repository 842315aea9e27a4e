package esm

import (
	"encoding/json"
	"testing"
)

// The record's keys and their order are those of Lambda's SQS events, as AWS's
// recorded events show them.
func TestRecordShape(t *testing.T) {
	sv := "John Grisham"
	m := &Message{
		MessageId: "059f36b4-87a3-44ab-83d2-661975830a7d", ReceiptHandle: "AQEB", Body: "test",
		MD5OfBody: "098f6bcd4621d373cade4e832627b4f6", MD5OfMessageAttributes: "d25a6aea97eb8f585bfa92d314504a92",
		Attributes: map[string]string{
			"SenderId": "123456789012", "ApproximateFirstReceiveTimestamp": "1545082649185", "SentTimestamp": "1545082649183",
			"ApproximateReceiveCount": "1", "SqsManagedSseEnabled": "true",
		},
		MessageAttributes: map[string]MessageAttribute{"Author": {DataType: "String", StringValue: &sv}},
	}
	r := newRecord(m, "arn:aws:sqs:us-east-1:123456789012:q", "us-east-1")
	got := string(encodeEvent([][]byte{encodeRecord(&r)}))
	want := `{"Records":[{"messageId":"059f36b4-87a3-44ab-83d2-661975830a7d","receiptHandle":"AQEB","body":"test",` +
		`"attributes":{"ApproximateReceiveCount":"1","SentTimestamp":"1545082649183","SenderId":"123456789012","ApproximateFirstReceiveTimestamp":"1545082649185"},` +
		`"messageAttributes":{"Author":{"stringValue":"John Grisham","stringListValues":[],"binaryListValues":[],"dataType":"String"}},` +
		`"md5OfMessageAttributes":"d25a6aea97eb8f585bfa92d314504a92","md5OfBody":"098f6bcd4621d373cade4e832627b4f6",` +
		`"eventSource":"aws:sqs","eventSourceARN":"arn:aws:sqs:us-east-1:123456789012:q","awsRegion":"us-east-1"}]}`
	if got != want {
		t.Errorf("event\n got %s\nwant %s", got, want)
	}
	if !json.Valid([]byte(got)) {
		t.Fatal("not JSON")
	}
}

// Without message attributes the event has an empty object and a null MD5; FIFO
// attributes come in Lambda's order; binary values are base64.
func TestRecordShapeFIFO(t *testing.T) {
	m := &Message{
		MessageId: "id", ReceiptHandle: "h", Body: "{}", MD5OfBody: "x",
		Attributes: map[string]string{
			"MessageDeduplicationId": "d", "SequenceNumber": "18849496460467696128", "MessageGroupId": "1",
			"SenderId": "s", "SentTimestamp": "2", "ApproximateReceiveCount": "1", "ApproximateFirstReceiveTimestamp": "3",
			"AWSTraceHeader": "Root=1-5e1b4151-5ac6c58f5b5daa6532e4f2e8;Lineage=a87bd80c:3",
		},
	}
	r := newRecord(m, "arn:aws:sqs:r:1:q.fifo", "r")
	b, _ := json.Marshal(r)
	want := `{"messageId":"id","receiptHandle":"h","body":"{}","attributes":{"ApproximateReceiveCount":"1","AWSTraceHeader":"Root=1-5e1b4151-5ac6c58f5b5daa6532e4f2e8;Lineage=a87bd80c:3","SentTimestamp":"2","SequenceNumber":"18849496460467696128","MessageGroupId":"1","SenderId":"s","MessageDeduplicationId":"d","ApproximateFirstReceiveTimestamp":"3"},"messageAttributes":{},"md5OfMessageAttributes":null,"md5OfBody":"x","eventSource":"aws:sqs","eventSourceARN":"arn:aws:sqs:r:1:q.fifo","awsRegion":"r"}`
	if string(b) != want {
		t.Errorf("record\n got %s\nwant %s", b, want)
	}
	bin := &Message{MessageId: "i", MessageAttributes: map[string]MessageAttribute{"B": {DataType: "Binary", BinaryValue: []byte{1, 2, 3}}}, MD5OfMessageAttributes: "m"}
	r = newRecord(bin, "a", "r")
	b, _ = json.Marshal(r.MessageAttributes)
	if string(b) != `{"B":{"binaryValue":"AQID","stringListValues":[],"binaryListValues":[],"dataType":"Binary"}}` {
		t.Errorf("binary attribute: %s", b)
	}
}

func TestFailedItems(t *testing.T) {
	batch := map[string]bool{"a": true, "b": true}
	cases := []struct {
		resp    string
		want    []string
		invalid bool
	}{
		{resp: ``},
		{resp: `null`},
		{resp: `{}`},
		{resp: `{"batchItemFailures":null}`},
		{resp: `{"batchItemFailures":[]}`},
		{resp: `"a string"`},
		{resp: `{"batchItemFailures":[{"itemIdentifier":"a"}]}`, want: []string{"a"}},
		{resp: `{"batchItemFailures":[{"itemIdentifier":"a"},{"itemIdentifier":"b"}]}`, want: []string{"a", "b"}},
		{resp: `{"batchItemFailures":[{"itemIdentifier":"zzz"}]}`, invalid: true},
		{resp: `{"batchItemFailures":[{"itemIdentifier":""}]}`, invalid: true},
		{resp: `{"batchItemFailures":[{"itemIdentifier":null}]}`, invalid: true},
		{resp: `{"batchItemFailures":[{"itemId":"a"}]}`, invalid: true},
		{resp: `{"batchItemFailures":"a"}`, invalid: true},
		{resp: `{"batchItemFailures":[1]}`, invalid: true},
		{resp: `{not json`, invalid: true},
	}
	for _, c := range cases {
		got, err := failedItems([]byte(c.resp), batch)
		if c.invalid {
			if err == nil {
				t.Errorf("%s: accepted", c.resp)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.resp, err)
			continue
		}
		if len(got) != len(c.want) {
			t.Errorf("%s: failed %v, want %v", c.resp, got, c.want)
		}
		for _, id := range c.want {
			if !got[id] {
				t.Errorf("%s: %s not failed", c.resp, id)
			}
		}
	}
}
