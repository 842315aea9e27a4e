package sqs

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// SendMessageInput is one message to send.
type SendMessageInput struct {
	QueueName    string
	Body         string
	DelaySeconds *int32 // nil: the queue's DelaySeconds
	// MessageAttributes are the sender's; MessageSystemAttributes holds
	// AWSTraceHeader only, as on SQS.
	MessageAttributes       map[string]MessageAttributeValue
	MessageSystemAttributes map[string]MessageAttributeValue
	// MessageGroupId and MessageDeduplicationId are nil when not given; an empty
	// one given is invalid, as on SQS.
	MessageGroupId         *string
	MessageDeduplicationId *string
	// SenderId is who sent it (the account id, or a role's "AROA…:session"); empty is
	// the account.
	SenderId string
	// Batch marks an entry of SendMessageBatch: SQS words some of its failures
	// differently there.
	Batch bool
}

// SendMessageOutput is what SendMessage answers.
type SendMessageOutput struct {
	MessageId                    string
	MD5OfMessageBody             string
	MD5OfMessageAttributes       string
	MD5OfMessageSystemAttributes string
	SequenceNumber               string // FIFO queues only
}

// Message is one received message.
type Message struct {
	MessageId              string
	ReceiptHandle          string
	Body                   string
	MD5OfBody              string
	MD5OfMessageAttributes string
	// Attributes are the system attributes asked for (ApproximateReceiveCount,
	// SentTimestamp, …).
	Attributes        map[string]string
	MessageAttributes map[string]MessageAttributeValue
}

// ReceiveMessageInput asks for messages.
type ReceiveMessageInput struct {
	QueueName           string
	MaxNumberOfMessages int32  // 0: 1
	WaitTimeSeconds     *int32 // nil: the queue's ReceiveMessageWaitTimeSeconds
	VisibilityTimeout   *int32 // nil: the queue's VisibilityTimeout
	// AttributeNames are system attribute names ("All" for all);
	// MessageAttributeNames are message attribute names, "All", ".*" or "prefix.*".
	AttributeNames        []string
	MessageAttributeNames []string
}

// System attribute names a receive may ask for.
var systemAttributeNames = map[string]bool{
	"All": true, "ApproximateReceiveCount": true, "ApproximateFirstReceiveTimestamp": true,
	"SentTimestamp": true, "SenderId": true, "MessageGroupId": true, "SequenceNumber": true,
	"MessageDeduplicationId": true, "AWSTraceHeader": true, "SqsManagedSseEnabled": true,
	"DeadLetterQueueSourceArn": true,
}

// IsSystemAttributeName says whether ReceiveMessage knows the name.
func IsSystemAttributeName(n string) bool { return systemAttributeNames[n] }

// storedMeta is what a stream message carries besides the body. The payload is
// "SQS1", a uvarint length, this JSON, then the body's bytes: the body is never
// escaped, and a 1 MiB message costs one copy.
type storedMeta struct {
	ID        string                           `json:"i"`
	Sent      int64                            `json:"t"` // ms
	Sender    string                           `json:"s,omitempty"`
	Attrs     map[string]MessageAttributeValue `json:"a,omitempty"`
	Sys       map[string]MessageAttributeValue `json:"y,omitempty"`
	Group     string                           `json:"g,omitempty"`
	Dedup     string                           `json:"d,omitempty"`
	MD5Body   string                           `json:"mb"`
	MD5Attrs  string                           `json:"ma,omitempty"`
	VisibleAt int64                            `json:"v,omitempty"` // ms; delayed messages
	Source    string                           `json:"src,omitempty"`
}

const payloadMagic = "SQS1"

func encodePayload(m *storedMeta, body string) []byte {
	meta, _ := json.Marshal(m)
	out := make([]byte, 0, len(payloadMagic)+binary.MaxVarintLen64+len(meta)+len(body))
	out = append(out, payloadMagic...)
	out = binary.AppendUvarint(out, uint64(len(meta)))
	out = append(out, meta...)
	return append(out, body...)
}

func decodePayload(b []byte) (*storedMeta, string, error) {
	if len(b) < len(payloadMagic) || string(b[:len(payloadMagic)]) != payloadMagic {
		return nil, "", errors.New("not an SQS message")
	}
	b = b[len(payloadMagic):]
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return nil, "", errors.New("corrupt SQS message")
	}
	var m storedMeta
	if err := json.Unmarshal(b[k:k+int(n)], &m); err != nil {
		return nil, "", err
	}
	return &m, string(b[k+int(n):]), nil
}

func newMessageID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// checkSend validates a message against its queue, as SQS does before accepting it.
func checkSend(q *queue, in *SendMessageInput) (delay int, err error) {
	if in.Body == "" {
		return 0, NewError("MissingParameter", "The request must contain the parameter MessageBody.")
	}
	if err := checkContents(in.Body); err != nil {
		return 0, err
	}
	attrSize, err := checkMessageAttributes(in.MessageAttributes)
	if err != nil {
		return 0, err
	}
	for name, v := range in.MessageSystemAttributes {
		if name != "AWSTraceHeader" {
			return 0, errInvalidParam("Message system attribute name '%s' is invalid.", name)
		}
		if v.DataType != "String" || v.StringValue == nil || *v.StringValue == "" {
			return 0, errInvalidParam("Message system attribute 'AWSTraceHeader' must be of type String with a non-empty value.")
		}
	}
	if size := len(in.Body) + attrSize; size > q.st.maxSize {
		if in.Batch {
			return 0, errInvalidParam("One or more parameters cannot be validated. Reason: Message must be shorter than %d bytes.", q.st.maxSize)
		}
		return 0, errInvalidParam("One or more parameters are invalid. Reason: Message must be shorter than %d bytes.", q.st.maxSize)
	}
	delay = q.st.delay
	if in.DelaySeconds != nil {
		d := int(*in.DelaySeconds)
		if d < 0 || d > MaxDelaySeconds {
			return 0, errInvalidParam("Value %d for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= 900.", d)
		}
		if q.st.fifo && d != 0 {
			return 0, errInvalidParam("Value %d for parameter DelaySeconds is invalid. Reason: The request include parameter that is not valid for this queue type.", d)
		}
		if !q.st.fifo {
			delay = d
		}
	}
	group, dedup := in.MessageGroupId, in.MessageDeduplicationId
	if q.st.fifo && group == nil {
		return 0, errMissingGroup(false)
	}
	// A standard queue takes a MessageGroupId too (fair queues), and checks it
	// the same way.
	if group != nil && !validFIFOToken(*group) {
		return 0, errInvalidParam("Value %s for parameter MessageGroupId is invalid. Reason: MessageGroupId can only include alphanumeric and punctuation characters. 1 to 128 in length.", *group)
	}
	if q.st.fifo {
		if dedup == nil && !q.st.contentDedup {
			return 0, errMissingDedup()
		}
		if dedup != nil && !validFIFOToken(*dedup) {
			return 0, errInvalidParam("Value %s for parameter MessageDeduplicationId is invalid. Reason: MessageDeduplicationId can only include alphanumeric and punctuation characters. 1 to 128 in length.", *dedup)
		}
	} else if dedup != nil {
		return 0, errInvalidParam("Value %s for parameter MessageDeduplicationId is invalid. Reason: The request includes a parameter that is not valid for this queue type.", *dedup)
	}
	return delay, nil
}

// errMissingGroup is a FIFO message without MessageGroupId: MissingParameter for
// SendMessage, but InvalidParameterValue of the whole request for an entry of
// SendMessageBatch (AWS's recorded answers).
func errMissingGroup(batch bool) *Error {
	if batch {
		return errInvalidParam("The request must contain the parameter MessageGroupId.")
	}
	return NewError("MissingParameter", "The request must contain the parameter MessageGroupId.")
}

func errMissingDedup() *Error {
	return errInvalidParam("The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly")
}

// CheckSendBatch applies the rules that fail a whole SendMessageBatch rather than
// one entry: on a FIFO queue every entry needs its MessageGroupId and, unless the
// queue deduplicates by content, its MessageDeduplicationId.
func (s *Service) CheckSendBatch(queueName string, entries []*SendMessageInput) error {
	q, err := s.queue(queueName)
	if err != nil {
		return err
	}
	if !q.st.fifo {
		return nil
	}
	for _, in := range entries {
		if in.MessageGroupId == nil {
			return errMissingGroup(true)
		}
		if in.MessageDeduplicationId == nil && !q.st.contentDedup {
			return errMissingDedup()
		}
	}
	return nil
}

// validFIFOToken: 1–128 of alphanumerics and punctuation (!"#$%&'()*+,-./:;<=>?@[\]^_`{|}~).
func validFIFOToken(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < '!' || c > '~' {
			return false
		}
	}
	return true
}

// SendMessage stores one message. It returns once JetStream has acknowledged it (on
// disk, on a quorum of replicas), so it survives a crash of the server.
func (s *Service) SendMessage(ctx context.Context, in *SendMessageInput) (*SendMessageOutput, error) {
	q, err := s.queue(in.QueueName)
	if err != nil {
		return nil, err
	}
	delay, err := checkSend(q, in)
	if err != nil {
		return nil, err
	}
	now := s.now()
	m := &storedMeta{
		ID: newMessageID(), Sent: now.UnixMilli(), Sender: in.SenderId,
		Attrs: in.MessageAttributes, Sys: in.MessageSystemAttributes,
		MD5Body: MD5OfBody(in.Body), MD5Attrs: MD5OfAttributes(in.MessageAttributes),
	}
	if m.Sender == "" {
		m.Sender = s.cfg.AccountID
	}
	if in.MessageGroupId != nil {
		// A standard queue's message keeps its group too, and answers it (fair
		// queues).
		m.Group = *in.MessageGroupId
	}
	if q.st.fifo {
		if in.MessageDeduplicationId != nil {
			m.Dedup = *in.MessageDeduplicationId
		}
		if m.Dedup == "" {
			sum := sha256.Sum256([]byte(in.Body))
			m.Dedup = hex.EncodeToString(sum[:])
		}
	}
	msg := nats.NewMsg(q.subject())
	if delay > 0 {
		m.VisibleAt = now.Add(time.Duration(delay) * time.Second).UnixMilli()
		// A schedule of its own subject (one schedule per subject): the server
		// publishes the message to the queue's subject when it is due.
		msg.Subject = q.delayedPrefix() + m.ID
		msg.Header.Set("Nats-Schedule", "@at "+time.UnixMilli(m.VisibleAt).UTC().Format(time.RFC3339Nano))
		msg.Header.Set("Nats-Schedule-Target", q.subject())
	}
	msg.Data = encodePayload(m, in.Body)
	var opts []jetstream.PublishOpt
	if q.st.fifo {
		dedupKey := m.Dedup
		if q.st.dedupScopeGroup {
			dedupKey = m.Group + "\x00" + m.Dedup
		}
		opts = append(opts, jetstream.WithMsgID(dedupKey))
	}
	opts = append(opts, jetstream.WithExpectStream(q.streamName()))
	ack, err := s.js.PublishMsg(ctx, msg, opts...)
	if err != nil {
		if errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders) {
			return nil, errNoQueue()
		}
		return nil, fmt.Errorf("sqs: publish to %s: %w", in.QueueName, err)
	}
	out := &SendMessageOutput{
		MessageId: m.ID, MD5OfMessageBody: m.MD5Body, MD5OfMessageAttributes: m.MD5Attrs,
		MD5OfMessageSystemAttributes: MD5OfAttributes(in.MessageSystemAttributes),
	}
	if q.st.fifo {
		out.SequenceNumber = sequenceNumber(ack.Sequence)
		if ack.Duplicate {
			// SQS answers a duplicate with the original's id.
			if h, err := s.handlesOf(ctx, q); err == nil {
				if raw, err := h.stream.GetMsg(ctx, ack.Sequence); err == nil {
					if om, _, err := decodePayload(raw.Data); err == nil {
						out.MessageId = om.ID
					}
				}
			}
		}
	}
	return out, nil
}

// sequenceNumber is SQS's 20-digit FIFO sequence number; the stream sequence is
// increasing per queue, so per group too.
func sequenceNumber(seq uint64) string { return fmt.Sprintf("%020d", seq) }

// ReceiveMessage returns up to MaxNumberOfMessages messages, waiting up to
// WaitTimeSeconds for the first one and returning as soon as there is one.
func (s *Service) ReceiveMessage(ctx context.Context, in *ReceiveMessageInput) ([]Message, error) {
	q, err := s.queue(in.QueueName)
	if err != nil {
		return nil, err
	}
	n := int(in.MaxNumberOfMessages)
	if n == 0 {
		n = 1
	}
	if n < 1 || n > MaxMessagesPerReceive {
		return nil, errInvalidParam("Value %d for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.", n)
	}
	wait := q.st.waitTime
	if in.WaitTimeSeconds != nil {
		wait = int(*in.WaitTimeSeconds)
		if wait < 0 || wait > MaxReceiveWaitTimeSeconds {
			return nil, errInvalidParam("Value %d for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, if provided.", wait)
		}
	}
	vis := q.st.visibility
	if in.VisibilityTimeout != nil {
		vis = int(*in.VisibilityTimeout)
		if vis < 0 || vis > MaxVisibilityTimeout {
			return nil, errInvalidParam("Value %d for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and 43200, if provided.", vis)
		}
	}
	for _, a := range in.AttributeNames {
		if !IsSystemAttributeName(a) {
			return nil, errAttrName(a)
		}
	}
	h, err := s.handlesOf(ctx, q)
	if err != nil {
		return nil, err
	}
	// A long poll also ends when the service closes.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(s.closing, cancel)()
	deadline := s.now().Add(time.Duration(wait) * time.Second)
	var out []Message
	for {
		msgs, err := s.fetch(ctx, h.consumer, n-len(out), time.Until(deadline))
		if errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrStreamNotFound) {
			return out, errNoQueue() // deleted on another node meanwhile
		}
		if err != nil {
			return out, err
		}
		for _, jm := range msgs {
			m, keep, err := s.deliver(ctx, q, jm, vis, in)
			if err != nil {
				s.log.Warn("sqs: receive", "queue", q.rec.Name, "err", err)
				continue
			}
			if keep {
				out = append(out, m)
			}
		}
		// Messages moved to a dead-letter queue leave nothing to answer: wait on.
		if len(out) > 0 || !time.Now().Before(deadline) || ctx.Err() != nil {
			return out, nil
		}
	}
}

// fetch pulls up to n messages: the first waiting up to wait, the rest only if they
// are there now. One pull request of n that waits would keep collecting after the
// first arrived, and what it got after we answered would sit in flight unseen.
func (s *Service) fetch(ctx context.Context, c jetstream.Consumer, n int, wait time.Duration) ([]jetstream.Msg, error) {
	if ctx.Err() != nil {
		return nil, nil // the client left, or the service is closing
	}
	var out []jetstream.Msg
	collect := func(b jetstream.MessageBatch) error {
		for m := range b.Messages() {
			out = append(out, m)
		}
		if err := b.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, jetstream.ErrNoMessages) &&
			!errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
			return err
		}
		return nil
	}
	if wait >= 50*time.Millisecond {
		// The pull request expires on the server at about the wait; the context
		// ends it early if the client goes away.
		fctx, cancel := context.WithTimeout(ctx, wait+min(wait/9, time.Second))
		defer cancel()
		b, err := c.Fetch(1, jetstream.FetchContext(fctx))
		if err != nil {
			return nil, err
		}
		if err := collect(b); err != nil {
			return nil, err
		}
		if len(out) == 0 || n == 1 {
			return out, nil
		}
		n--
	}
	b, err := c.FetchNoWait(n)
	if err != nil {
		return nil, err
	}
	if err := collect(b); err != nil {
		return nil, err
	}
	return out, nil
}

// deliver turns one delivery into a received message, or moves it to the queue's
// dead-letter queue (keep false) when it has been received maxReceiveCount times.
func (s *Service) deliver(ctx context.Context, q *queue, jm jetstream.Msg, vis int, in *ReceiveMessageInput) (Message, bool, error) {
	md, err := jm.Metadata()
	if err != nil {
		return Message{}, false, err
	}
	meta, body, err := decodePayload(jm.Data())
	if err != nil {
		// Not ours: drop it rather than hand it out forever.
		_ = jm.Term()
		return Message{}, false, err
	}
	count := md.NumDelivered
	if rp := q.st.redrive; rp != nil && count > uint64(rp.MaxReceiveCount) {
		moved, err := s.moveToDLQ(ctx, q, rp, jm, meta, body)
		if err != nil {
			return Message{}, false, err
		}
		if moved {
			return Message{}, false, nil
		}
	}
	// The consumer's AckWait is the queue's timeout; another one is a NAK with
	// that delay, 0 a plain NAK (visible again at once).
	if vis != q.st.visibility || vis == 0 {
		if vis == 0 {
			err = jm.Nak()
		} else {
			err = jm.NakWithDelay(time.Duration(vis) * time.Second)
		}
		if err != nil {
			return Message{}, false, err
		}
	}
	now := s.now()
	m := Message{
		MessageId: meta.ID, Body: body, MD5OfBody: meta.MD5Body,
		ReceiptHandle: s.handles.encode(q.rec.Name, jm.Reply()),
	}
	want := wanted(in.AttributeNames)
	m.Attributes = map[string]string{}
	add := func(k, v string) {
		if want("All") || want(k) {
			m.Attributes[k] = v
		}
	}
	add("ApproximateReceiveCount", strconv.FormatUint(count, 10))
	add("SentTimestamp", strconv.FormatInt(meta.Sent, 10))
	// The first receive's time is known at the first delivery; later ones answer
	// when the message first became visible (no per-message state is kept for it).
	first := now.UnixMilli()
	if count > 1 {
		first = max(meta.Sent, meta.VisibleAt)
	}
	add("ApproximateFirstReceiveTimestamp", strconv.FormatInt(first, 10))
	add("SenderId", meta.Sender)
	add("SqsManagedSseEnabled", "true")
	if meta.Source != "" {
		add("DeadLetterQueueSourceArn", meta.Source)
	}
	if v, ok := meta.Sys["AWSTraceHeader"]; ok && v.StringValue != nil {
		add("AWSTraceHeader", *v.StringValue)
	}
	if meta.Group != "" {
		add("MessageGroupId", meta.Group)
	}
	if q.st.fifo {
		add("MessageDeduplicationId", meta.Dedup)
		add("SequenceNumber", sequenceNumber(md.Sequence.Stream))
	}
	if len(m.Attributes) == 0 {
		m.Attributes = nil
	}
	m.MessageAttributes = selectAttributes(meta.Attrs, in.MessageAttributeNames)
	m.MD5OfMessageAttributes = MD5OfAttributes(m.MessageAttributes)
	return m, true, nil
}

func wanted(names []string) func(string) bool {
	set := map[string]bool{}
	for _, n := range names {
		set[n] = true
	}
	return func(n string) bool { return set[n] }
}

// selectAttributes keeps the message attributes a receive asked for: "All", ".*",
// exact names and "prefix.*".
func selectAttributes(attrs map[string]MessageAttributeValue, names []string) map[string]MessageAttributeValue {
	if len(attrs) == 0 || len(names) == 0 {
		return nil
	}
	out := map[string]MessageAttributeValue{}
	for k, v := range attrs {
		for _, n := range names {
			if n == "All" || n == ".*" || n == k || (len(n) > 2 && n[len(n)-2:] == ".*" && len(k) >= len(n)-1 && k[:len(n)-1] == n[:len(n)-1]) {
				out[k] = v
				break
			}
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// moveToDLQ publishes the message to the dead-letter queue and then deletes it here.
// A crash between the two leaves it in both (at least once, as SQS). A missing
// dead-letter queue leaves the message where it is (moved false).
func (s *Service) moveToDLQ(ctx context.Context, q *queue, rp *RedrivePolicy, jm jetstream.Msg, meta *storedMeta, body string) (bool, error) {
	name, ok := s.QueueNameFromARN(rp.DeadLetterTargetArn)
	if !ok {
		return false, nil
	}
	dlq := s.lookup(name)
	if dlq == nil {
		return false, nil
	}
	meta.Source = s.QueueARN(q.rec.Name)
	msg := nats.NewMsg(dlq.subject())
	msg.Data = encodePayload(meta, body)
	pctx, cancel := context.WithTimeout(ctx, ackTimeout)
	defer cancel()
	opts := []jetstream.PublishOpt{jetstream.WithExpectStream(dlq.streamName())}
	if dlq.st.fifo {
		// The same message moved twice (a crash between publish and ack) is one.
		opts = append(opts, jetstream.WithMsgID("dlq:"+meta.ID))
	}
	if _, err := s.js.PublishMsg(pctx, msg, opts...); err != nil {
		return false, fmt.Errorf("move to dead-letter queue %s: %w", name, err)
	}
	if err := jm.DoubleAck(pctx); err != nil {
		return true, fmt.Errorf("delete moved message: %w", err)
	}
	return true, nil
}

// ackRequest sends one ack-protocol message to a delivery's ack subject and waits
// for the server's confirmation. A consumer that is gone (its queue deleted) has
// nothing left to act on: that is success.
func (s *Service) ackRequest(ctx context.Context, subject string, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, ackTimeout)
	defer cancel()
	_, err := s.nc.RequestWithContext(ctx, subject, body)
	if errors.Is(err, nats.ErrNoResponders) {
		return nil
	}
	return err
}

// handleFor checks a receipt handle against the queue it is used with.
func (s *Service) handleFor(queueName, handle string) (*queue, string, error) {
	q, err := s.queue(queueName)
	if err != nil {
		return nil, "", err
	}
	name, subj, ok := s.handles.decode(handle)
	if !ok || name != queueName {
		return nil, "", errHandle(handle)
	}
	// The ack subject names the stream; a handle from a deleted queue of the same
	// name names another one.
	if want := "$JS.ACK." + q.streamName() + "." + consumerName + "."; len(subj) < len(want) || subj[:len(want)] != want {
		return nil, "", errHandle(handle)
	}
	return q, subj, nil
}

// messageGone says whether the message of a delivery's ack subject
// ($JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.…, the form handleFor
// accepts) has left the queue's stream: deleted, or moved to a dead-letter queue.
func (s *Service) messageGone(ctx context.Context, q *queue, ackSubject string) (bool, error) {
	tokens := strings.Split(ackSubject, ".")
	if len(tokens) < 6 {
		return false, nil
	}
	seq, err := strconv.ParseUint(tokens[5], 10, 64)
	if err != nil {
		return false, nil
	}
	h, err := s.handlesOf(ctx, q)
	if err != nil {
		return false, err
	}
	gctx, cancel := context.WithTimeout(ctx, ackTimeout)
	defer cancel()
	if _, err := h.stream.GetMsg(gctx, seq); err != nil {
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return true, nil
		}
		return false, fmt.Errorf("sqs: look up message: %w", err)
	}
	return false, nil
}

// DeleteMessage deletes the message a receipt handle names. Deleting one that is
// already gone succeeds, as on SQS.
func (s *Service) DeleteMessage(ctx context.Context, queueName, receiptHandle string) error {
	_, subj, err := s.handleFor(queueName, receiptHandle)
	if err != nil {
		return err
	}
	if err := s.ackRequest(ctx, subj, []byte("+ACK")); err != nil {
		return fmt.Errorf("sqs: delete message: %w", err)
	}
	return nil
}

// ChangeMessageVisibility makes a received message visible again after seconds
// (0: at once).
func (s *Service) ChangeMessageVisibility(ctx context.Context, queueName, receiptHandle string, seconds int32) error {
	if seconds < 0 || seconds > MaxVisibilityTimeout {
		return errInvalidParam("Value %d for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and 43200, if provided.", seconds)
	}
	q, subj, err := s.handleFor(queueName, receiptHandle)
	if err != nil {
		return err
	}
	// JetStream ignores a NAK of a message no longer there; SQS refuses to change
	// the visibility of a deleted message.
	if gone, err := s.messageGone(ctx, q, subj); err != nil {
		return err
	} else if gone {
		return errInvalidParam("Value %s for parameter ReceiptHandle is invalid. Reason: Message does not exist or is not available for visibility timeout change.", receiptHandle)
	}
	body := []byte("-NAK")
	if seconds > 0 {
		body = fmt.Appendf(nil, `-NAK {"delay": %d}`, (time.Duration(seconds) * time.Second).Nanoseconds())
	}
	if err := s.ackRequest(ctx, subj, body); err != nil {
		return fmt.Errorf("sqs: change message visibility: %w", err)
	}
	return nil
}
