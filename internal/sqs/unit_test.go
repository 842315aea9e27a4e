package sqs

import (
	"strings"
	"testing"
)

func TestMD5s(t *testing.T) {
	if got := MD5OfBody("hello"); got != "5d41402abc4b2a76b9719d911017c592" {
		t.Fatalf("body: %s", got)
	}
	if MD5OfAttributes(nil) != "" {
		t.Fatal("no attributes must have no digest")
	}
	// Pinned after aws-sdk-go-v2 and the AWS CLI accepted it (sqsapi's
	// TestSDKChecksums, test/cli/sqs.sh): a change here breaks every client.
	attrs := map[string]MessageAttributeValue{
		"b": {DataType: "Binary", BinaryValue: []byte{1, 2, 3}},
		"a": {DataType: "String", StringValue: str("x")},
	}
	got := MD5OfAttributes(attrs)
	if len(got) != 32 {
		t.Fatalf("digest %q", got)
	}
	// Order-independent, and sensitive to each of name, type and value.
	for _, other := range []map[string]MessageAttributeValue{
		{"b": {DataType: "Binary", BinaryValue: []byte{1, 2, 4}}, "a": {DataType: "String", StringValue: str("x")}},
		{"b": {DataType: "Binary.x", BinaryValue: []byte{1, 2, 3}}, "a": {DataType: "String", StringValue: str("x")}},
		{"c": {DataType: "Binary", BinaryValue: []byte{1, 2, 3}}, "a": {DataType: "String", StringValue: str("x")}},
	} {
		if MD5OfAttributes(other) == got {
			t.Fatalf("digest ignores a difference: %v", other)
		}
	}
}

func TestCheckContents(t *testing.T) {
	for _, ok := range []string{"plain", "tab\tnl\ncr\r", "ünï 🚀", "\uE000\uFFFD"} {
		if err := checkContents(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"nul\x00", "\x1f", "\uFFFE", "bad utf8 \xff"} {
		if err := checkContents(bad); AsError(err).Code != "InvalidMessageContents" {
			t.Errorf("%q accepted: %v", bad, err)
		}
	}
}

func TestAttributeChecks(t *testing.T) {
	none := func(string) (bool, bool) { return false, false }
	for _, tc := range []struct {
		attrs map[string]string
		fifo  bool
		code  string
	}{
		{map[string]string{AttrVisibilityTimeout: "43201"}, false, "InvalidAttributeValue"},
		{map[string]string{AttrDelaySeconds: "-1"}, false, "InvalidAttributeValue"},
		{map[string]string{AttrMaximumMessageSize: "1023"}, false, "InvalidAttributeValue"},
		{map[string]string{AttrMessageRetentionPeriod: "59"}, false, "InvalidAttributeValue"},
		{map[string]string{AttrReceiveMessageWaitTimeSeconds: "21"}, false, "InvalidAttributeValue"},
		{map[string]string{"Bogus": "1"}, false, "InvalidAttributeName"},
		{map[string]string{AttrQueueArn: "x"}, false, "InvalidAttributeName"},
		{map[string]string{AttrContentBasedDeduplication: "true"}, false, "InvalidAttributeName"},
		{map[string]string{AttrRedrivePolicy: `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:1:x","maxReceiveCount":5}`}, false, "InvalidParameterValueException"},
		{map[string]string{AttrRedrivePolicy: `{"maxReceiveCount":5}`}, false, "InvalidParameterValueException"},
		{map[string]string{AttrVisibilityTimeout: "0", AttrMessageRetentionPeriod: "1209600"}, false, ""},
		{map[string]string{AttrFifoQueue: "true", AttrContentBasedDeduplication: "TRUE"}, true, ""},
	} {
		_, err := checkAttributes(tc.attrs, tc.fifo, true, none)
		if got := ""; err != nil {
			got = AsError(err).Code
			if got != tc.code {
				t.Errorf("%v: %s, want %q", tc.attrs, got, tc.code)
			}
		} else if tc.code != "" {
			t.Errorf("%v accepted, want %s", tc.attrs, tc.code)
		}
	}
	for name, ok := range map[string]bool{"q": true, "a-b_c": true, strings.Repeat("a", 80): true, strings.Repeat("a", 81): false,
		"x.fifo": true, strings.Repeat("a", 75) + ".fifo": true, strings.Repeat("a", 76) + ".fifo": false, "": false, "a b": false, "a.b": false} {
		if ValidQueueName(name) != ok {
			t.Errorf("ValidQueueName(%q) != %v", name, ok)
		}
	}
}

func TestReceiptHandles(t *testing.T) {
	c := handleCodec{key: []byte("k")}
	h := c.encode("q", "$JS.ACK.SQS_x.receive.1.2.3.4.5")
	q, subj, ok := c.decode(h)
	if !ok || q != "q" || subj != "$JS.ACK.SQS_x.receive.1.2.3.4.5" {
		t.Fatalf("round trip: %v %q %q", ok, q, subj)
	}
	if _, _, ok := (handleCodec{key: []byte("other")}).decode(h); ok {
		t.Fatal("a handle of another key was accepted")
	}
	forged := []byte(h)
	forged[5] ^= 1
	for _, bad := range []string{"", "x", string(forged), h + "A", strings.Repeat("A", 5000)} {
		if _, _, ok := c.decode(bad); ok {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestSelectAttributes(t *testing.T) {
	attrs := map[string]MessageAttributeValue{"a.b": {}, "a.c": {}, "ab": {}, "z": {}}
	for names, want := range map[string]int{"All": 4, ".*": 4, "a.*": 2, "z": 1, "nope": 0, "a": 0} {
		if got := len(selectAttributes(attrs, strings.Split(names, ","))); got != want {
			t.Errorf("%s: %d, want %d", names, got, want)
		}
	}
}

func FuzzDecodeHandle(f *testing.F) {
	c := handleCodec{key: []byte("k")}
	f.Add(c.encode("q", "$JS.ACK.a.b.1.2.3.4.5"))
	f.Add("")
	f.Fuzz(func(t *testing.T, h string) {
		_, _, _ = c.decode(h)
	})
}
