package sqsapi

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
)

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// FuzzParseRequest feeds both protocols' parsers arbitrary bodies: they must answer
// an input or an *sqs.Error, never panic.
func FuzzParseRequest(f *testing.F) {
	f.Add([]byte(`{"QueueUrl":"http://h/123456789012/q","Entries":[{"Id":"a","MessageBody":"x","DelaySeconds":"5"}]}`))
	f.Add([]byte(`{"MessageAttributes":{"a":{"DataType":"Binary","BinaryValue":"AAE="}}}`))
	f.Add([]byte(`Action=SendMessage&MessageAttribute.1.Name=a&MessageAttribute.1.Value.DataType=String&MessageAttribute.1.Value.StringValue=x`))
	f.Add([]byte(`Action=SendMessageBatch&SendMessageBatchRequestEntry.1.Id=a&SendMessageBatchRequestEntry.1.MessageBody=b&SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.StringListValue.1=x`))
	f.Add([]byte(`Attribute.1.Name=x&Attribute.1=y&Attribute.a.Name=z&Tag..Key=1`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if in, err := parseJSON(body); err == nil && in == nil {
			t.Fatal("nil input without error")
		}
		r, _ := http.NewRequest(http.MethodPost, "/", strings.NewReader(string(body)))
		c := &call{proto: protoQuery}
		if in, err := parseQuery(r, body, c); err == nil && in == nil {
			t.Fatal("nil input without error")
		}
	})
}
