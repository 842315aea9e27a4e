package sqs

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"
)

// A receipt handle carries what DeleteMessage and ChangeMessageVisibility need: the
// queue it came from and JetStream's ack subject of that delivery
// ($JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<ts>.<pending>).
// It is opaque to clients and MACed with a key every node shares (kept in the
// queues' KV bucket), so a forged or altered handle is ReceiptHandleIsInvalid, and
// any node can act on a handle another node gave out.
type handleCodec struct{ key []byte }

const handleMACLen = 16

func (c handleCodec) mac(payload string) []byte {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte(payload))
	return m.Sum(nil)[:handleMACLen]
}

// encode makes the handle of one delivery of queue's message.
func (c handleCodec) encode(queue, ackSubject string) string {
	payload := queue + "\x00" + ackSubject
	raw := append([]byte(payload), c.mac(payload)...)
	return base64.RawURLEncoding.EncodeToString(raw)
}

// decode checks h and returns its queue and ack subject.
func (c handleCodec) decode(h string) (queue, ackSubject string, ok bool) {
	if len(h) > 4096 {
		return "", "", false
	}
	raw, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil || len(raw) <= handleMACLen {
		return "", "", false
	}
	payload, sum := string(raw[:len(raw)-handleMACLen]), raw[len(raw)-handleMACLen:]
	if !hmac.Equal(sum, c.mac(payload)) {
		return "", "", false
	}
	queue, ackSubject, found := strings.Cut(payload, "\x00")
	if !found || !strings.HasPrefix(ackSubject, "$JS.ACK.") {
		return "", "", false
	}
	return queue, ackSubject, true
}
