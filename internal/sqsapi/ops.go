package sqsapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/hearthfn/hearth/internal/sqs"
)

// flexInt is an integer member: a JSON number, or the string a query form carries.
// It keeps what was sent so the operation can name the parameter in its error.
type flexInt struct {
	raw string
}

func (f *flexInt) UnmarshalJSON(b []byte) error {
	f.raw = strings.Trim(string(b), `"`)
	return nil
}

// intParam checks an optional integer member.
func intParam(name string, f *flexInt) (*int32, error) {
	if f == nil {
		return nil, nil
	}
	n, err := strconv.ParseInt(f.raw, 10, 32)
	if err != nil {
		return nil, sqs.NewError("InvalidParameterValue", "Value %s for parameter %s is invalid. Reason: must be an integer.", f.raw, name)
	}
	v := int32(n)
	return &v, nil
}

// input is every request member of the operations served; each operation reads
// its own. JSON requests decode straight into it; query forms are first reshaped
// into the same JSON (query.go).
type input struct {
	QueueName                   string                               `json:"QueueName"`
	QueueUrl                    string                               `json:"QueueUrl"`
	QueueNamePrefix             string                               `json:"QueueNamePrefix"`
	QueueOwnerAWSAccountId      string                               `json:"QueueOwnerAWSAccountId"`
	NextToken                   string                               `json:"NextToken"`
	MaxResults                  *flexInt                             `json:"MaxResults"`
	Attributes                  map[string]string                    `json:"Attributes"`
	AttributeNames              []string                             `json:"AttributeNames"`
	MessageSystemAttributeNames []string                             `json:"MessageSystemAttributeNames"`
	MessageAttributeNames       []string                             `json:"MessageAttributeNames"`
	Tags                        map[string]string                    `json:"Tags"`
	TagKeys                     []string                             `json:"TagKeys"`
	MessageBody                 *string                              `json:"MessageBody"`
	DelaySeconds                *flexInt                             `json:"DelaySeconds"`
	MessageAttributes           map[string]sqs.MessageAttributeValue `json:"MessageAttributes"`
	MessageSystemAttributes     map[string]sqs.MessageAttributeValue `json:"MessageSystemAttributes"`
	MessageGroupId              *string                              `json:"MessageGroupId"`
	MessageDeduplicationId      *string                              `json:"MessageDeduplicationId"`
	MaxNumberOfMessages         *flexInt                             `json:"MaxNumberOfMessages"`
	VisibilityTimeout           *flexInt                             `json:"VisibilityTimeout"`
	WaitTimeSeconds             *flexInt                             `json:"WaitTimeSeconds"`
	ReceiveRequestAttemptId     string                               `json:"ReceiveRequestAttemptId"`
	ReceiptHandle               *string                              `json:"ReceiptHandle"`
	Entries                     []entry                              `json:"Entries"`
}

// entry is one entry of a batch operation.
type entry struct {
	Id                      *string                              `json:"Id"`
	MessageBody             *string                              `json:"MessageBody"`
	DelaySeconds            *flexInt                             `json:"DelaySeconds"`
	MessageAttributes       map[string]sqs.MessageAttributeValue `json:"MessageAttributes"`
	MessageSystemAttributes map[string]sqs.MessageAttributeValue `json:"MessageSystemAttributes"`
	MessageGroupId          *string                              `json:"MessageGroupId"`
	MessageDeduplicationId  *string                              `json:"MessageDeduplicationId"`
	ReceiptHandle           *string                              `json:"ReceiptHandle"`
	VisibilityTimeout       *flexInt                             `json:"VisibilityTimeout"`
}

// parseJSON decodes a JSON request. Malformed JSON and wrong types are the
// client's error, never a 500.
func parseJSON(body []byte) (*input, error) {
	in := &input{}
	if len(bytes.TrimSpace(body)) == 0 {
		return in, nil
	}
	if err := json.Unmarshal(body, in); err != nil {
		return nil, &sqs.Error{Code: "SerializationException", QueryCode: "SerializationException", Status: 400,
			Message: "Could not parse the request body: " + err.Error(), Sender: true}
	}
	return in, nil
}

var operations = map[string]opFunc{
	"CreateQueue":                  createQueue,
	"DeleteQueue":                  deleteQueue,
	"GetQueueUrl":                  getQueueURL,
	"ListQueues":                   listQueues,
	"GetQueueAttributes":           getQueueAttributes,
	"SetQueueAttributes":           setQueueAttributes,
	"PurgeQueue":                   purgeQueue,
	"SendMessage":                  sendMessage,
	"SendMessageBatch":             sendMessageBatch,
	"ReceiveMessage":               receiveMessage,
	"DeleteMessage":                deleteMessage,
	"DeleteMessageBatch":           deleteMessageBatch,
	"ChangeMessageVisibility":      changeMessageVisibility,
	"ChangeMessageVisibilityBatch": changeMessageVisibilityBatch,
	"TagQueue":                     tagQueue,
	"UntagQueue":                   untagQueue,
	"ListQueueTags":                listQueueTags,
	"ListDeadLetterSourceQueues":   listDeadLetterSourceQueues,
}

// queueless are the operations of no queue, which a queue's URL does not serve in
// the query protocol (GetQueueUrl it does).
var queueless = map[string]bool{"CreateQueue": true, "ListQueues": true}

// unsupported are SQS operations Hearth does not serve yet: answered as such, not
// as unknown actions.
var unsupported = map[string]bool{
	"AddPermission": true, "RemovePermission": true, "StartMessageMoveTask": true,
	"CancelMessageMoveTask": true, "ListMessageMoveTasks": true,
}

func missing(name string) error {
	return sqs.NewError("MissingParameter", "The request must contain the parameter %s.", name)
}

// queueURL is the queue's URL on the host the client reached, so it works as an
// endpoint for the client's next call.
func (h *Handler) queueURL(c *call, name string) string {
	return "http://" + c.host + "/" + h.q.AccountID() + "/" + name
}

// queueOf resolves the queue a call names: its QueueUrl (any host; the path is
// /ACCOUNT/NAME), or for the query protocol the path it was posted to.
func (h *Handler) queueOf(c *call, in *input) (string, error) {
	path := ""
	switch {
	case in.QueueUrl != "":
		u, err := url.Parse(in.QueueUrl)
		if err != nil {
			return "", sqs.QueueDoesNotExist()
		}
		path = u.Path
	case c.proto == protoQuery && c.path != "/" && c.path != "":
		path = c.path
	default:
		return "", missing("QueueUrl")
	}
	parts := strings.Split(strings.Trim(path, "/"), "/")
	if len(parts) != 2 || parts[0] != h.q.AccountID() || !h.q.QueueExists(parts[1]) {
		return "", sqs.QueueDoesNotExist()
	}
	return parts[1], nil
}

type queueURLOutput struct {
	QueueUrl string `json:"QueueUrl"`
}

func createQueue(ctx context.Context, h *Handler, c *call, in *input) (any, error) {
	if in.QueueName == "" {
		return nil, missing("QueueName")
	}
	if err := h.q.CreateQueue(ctx, in.QueueName, in.Attributes, in.Tags); err != nil {
		return nil, err
	}
	return &queueURLOutput{QueueUrl: h.queueURL(c, in.QueueName)}, nil
}

func deleteQueue(ctx context.Context, h *Handler, c *call, in *input) (any, error) {
	name, err := h.queueOf(c, in)
	if err != nil {
		return nil, err
	}
	return nil, h.q.DeleteQueue(ctx, name)
}

func getQueueURL(ctx context.Context, h *Handler, c *call, in *input) (any, error) {
	if in.QueueName == "" {
		return nil, missing("QueueName")
	}
	if (in.QueueOwnerAWSAccountId != "" && in.QueueOwnerAWSAccountId != h.q.AccountID()) || !h.q.QueueExists(in.QueueName) {
		return nil, sqs.QueueDoesNotExist()
	}
	return &queueURLOutput{QueueUrl: h.queueURL(c, in.QueueName)}, nil
}

type listQueuesOutput struct {
	QueueUrls []string `json:"QueueUrls,omitempty"`
	NextToken string   `json:"NextToken,omitempty"`
}

func listQueues(ctx context.Context, h *Handler, c *call, in *input) (any, error) {
	max, err := intParam("MaxResults", in.MaxResults)
	if err != nil {
		return nil, err
	}
	n := 0
	if max != nil {
		if *max < 1 || *max > 1000 {
			return nil, sqs.NewError("InvalidParameterValue", "Value %d for parameter MaxResults is invalid. Reason: MaxResults must be an integer between 1 and 1000.", *max)
		}
		n = int(*max)
	}
	names, token, err := h.q.ListQueues(in.QueueNamePrefix, n, in.NextToken)
	if err != nil {
		return nil, err
	}
	out := &listQueuesOutput{NextToken: token}
	for _, name := range names {
		out.QueueUrls = append(out.QueueUrls, h.queueURL(c, name))
	}
	return out, nil
}

type deadLetterSourcesOutput struct {
	QueueUrls []string `json:"queueUrls"`
	NextToken string   `json:"NextToken,omitempty"`
}

func listDeadLetterSourceQueues(ctx context.Context, h *Handler, c *call, in *input) (any, error) {
	name, err := h.queueOf(c, in)
	if err != nil {
		return nil, err
	}
	names, err := h.q.DeadLetterSourceQueues(name)
	if err != nil {
		return nil, err
	}
	out := &deadLetterSourcesOutput{QueueUrls: []string{}}
	for _, n := range names {
		out.QueueUrls = append(out.QueueUrls, h.queueURL(c, n))
	}
	return out, nil
}

type attributesOutput struct {
	Attributes map[string]string `json:"Attributes,omitempty"`
}

func getQueueAttributes(ctx context.Context, h *Handler, c *call, in *input) (any, error) {
	name, err := h.queueOf(c, in)
	if err != nil {
		return nil, err
	}
	attrs, err := h.q.GetQueueAttributes(ctx, name, in.AttributeNames)
	if err != nil {
		return nil, err
	}
	return &attributesOutput{Attributes: attrs}, nil
}

func setQueueAttributes(ctx context.Context, h *Handler, c *call, in *input) (any, error) {
	name, err := h.queueOf(c, in)
	if err != nil {
		return nil, err
	}
	if len(in.Attributes) == 0 {
		return nil, missing("Attributes")
	}
	return nil, h.q.SetQueueAttributes(ctx, name, in.Attributes)
}

func purgeQueue(ctx context.Context, h *Handler, c *call, in *input) (any, error) {
	name, err := h.queueOf(c, in)
	if err != nil {
		return nil, err
	}
	return nil, h.q.PurgeQueue(ctx, name)
}

// maxTraceHeader bounds a trace header kept from the HTTP request: X-Ray's are
// about 100 bytes; a longer one is not a trace id.
const maxTraceHeader = 1024

type sendOutput struct {
	Id                           string `json:"Id,omitempty"` // batch entries only
	MessageId                    string `json:"MessageId"`
	MD5OfMessageBody             string `json:"MD5OfMessageBody"`
	MD5OfMessageAttributes       string `json:"MD5OfMessageAttributes,omitempty"`
	MD5OfMessageSystemAttributes string `json:"MD5OfMessageSystemAttributes,omitempty"`
	SequenceNumber               string `json:"SequenceNumber,omitempty"`
}

// sendInput is the engine's input of one message, an entry of a batch or not.
func (h *Handler) sendInput(c *call, queue string, e *entry, batch bool) *sqs.SendMessageInput {
	in := &sqs.SendMessageInput{
		QueueName: queue, MessageAttributes: e.MessageAttributes, MessageSystemAttributes: e.MessageSystemAttributes,
		MessageGroupId: e.MessageGroupId, MessageDeduplicationId: e.MessageDeduplicationId, SenderId: c.sender, Batch: batch,
	}
	if e.MessageBody != nil {
		in.Body = *e.MessageBody
	}
	return in
}

// send stores one message; batch marks an entry of SendMessageBatch.
func (h *Handler) send(ctx context.Context, c *call, queue string, e *entry, batch bool) (*sendOutput, error) {
	if e.MessageBody == nil {
		return nil, missing("MessageBody")
	}
	delay, err := intParam("DelaySeconds", e.DelaySeconds)
	if err != nil {
		return nil, err
	}
	sys := e.MessageSystemAttributes
	if _, set := sys["AWSTraceHeader"]; !set && c.trace != "" && len(c.trace) <= maxTraceHeader {
		sys = maps.Clone(sys)
		if sys == nil {
			sys = map[string]sqs.MessageAttributeValue{}
		}
		trace := c.trace
		sys["AWSTraceHeader"] = sqs.MessageAttributeValue{DataType: "String", StringValue: &trace}
	}
	in := h.sendInput(c, queue, e, batch)
	in.DelaySeconds, in.MessageSystemAttributes = delay, sys
	out, err := h.q.SendMessage(ctx, in)
	if err != nil {
		return nil, err
	}
	md5Sys := out.MD5OfMessageSystemAttributes
	if len(e.MessageSystemAttributes) == 0 {
		// Only the caller's own system attributes get a digest back; a client
		// that sent none (the trace header came as an HTTP header) checks none.
		md5Sys = ""
	}
	return &sendOutput{MessageId: out.MessageId, MD5OfMessageBody: out.MD5OfMessageBody, MD5OfMessageAttributes: out.MD5OfMessageAttributes,
		MD5OfMessageSystemAttributes: md5Sys, SequenceNumber: out.SequenceNumber}, nil
}

func sendMessage(ctx context.Context, h *Handler, c *call, in *input) (any, error) {
	name, err := h.queueOf(c, in)
	if err != nil {
		return nil, err
	}
	return h.send(ctx, c, name, &entry{MessageBody: in.MessageBody, DelaySeconds: in.DelaySeconds, MessageAttributes: in.MessageAttributes,
		MessageSystemAttributes: in.MessageSystemAttributes, MessageGroupId: in.MessageGroupId, MessageDeduplicationId: in.MessageDeduplicationId}, false)
}

// batchError is one failed entry of a batch.
type batchError struct {
	Id          string `json:"Id"`
	SenderFault bool   `json:"SenderFault"`
	Code        string `json:"Code"`
	Message     string `json:"Message"`
}

// failed is a batch entry's failure. Entries name the query protocol's code in
// both protocols: AWS's recorded JSON answers carry "InvalidParameterValue" there,
// not the `__type` InvalidParameterValueException.
func failed(id string, err error) batchError {
	e := sqs.AsError(err)
	return batchError{Id: id, SenderFault: e.Sender, Code: e.QueryCode, Message: e.Message}
}

type sendBatchOutput struct {
	Successful []*sendOutput `json:"Successful"`
	Failed     []batchError  `json:"Failed"`
}

var batchIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`)

// checkBatch applies SQS's rules for a batch's entries: 1–10, ids valid and distinct.
func checkBatch(op string, entries []entry) error {
	if len(entries) == 0 {
		return sqs.NewError("EmptyBatchRequest", "There should be at least one %sRequestEntry in the request.", op)
	}
	if len(entries) > sqs.MaxBatchEntries {
		return sqs.NewError("TooManyEntriesInBatchRequest", "Maximum number of entries per request are %d. You have sent %d.", sqs.MaxBatchEntries, len(entries))
	}
	seen := map[string]bool{}
	for _, e := range entries {
		if e.Id == nil {
			return missing(op + "RequestEntry.Id")
		}
		if !batchIDRE.MatchString(*e.Id) {
			return sqs.NewError("InvalidBatchEntryId", "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.")
		}
		if seen[*e.Id] {
			return sqs.NewError("BatchEntryIdsNotDistinct", "Id %s repeated.", *e.Id)
		}
		seen[*e.Id] = true
	}
	return nil
}

func sendMessageBatch(ctx context.Context, h *Handler, c *call, in *input) (any, error) {
	name, err := h.queueOf(c, in)
	if err != nil {
		return nil, err
	}
	if err := checkBatch("SendMessageBatch", in.Entries); err != nil {
		return nil, err
	}
	total := 0
	for _, e := range in.Entries {
		if e.MessageBody != nil {
			total += len(*e.MessageBody)
		}
		for k, v := range e.MessageAttributes {
			total += len(k) + len(v.DataType) + len(v.BinaryValue)
			if v.StringValue != nil {
				total += len(*v.StringValue)
			}
		}
	}
	if total > sqs.MaxMaximumMessageSize {
		return nil, sqs.NewError("BatchRequestTooLong", "Batch requests cannot be longer than %d bytes. You have sent %d bytes.", sqs.MaxMaximumMessageSize, total)
	}
	ins := make([]*sqs.SendMessageInput, len(in.Entries))
	for i := range in.Entries {
		ins[i] = h.sendInput(c, name, &in.Entries[i], true)
	}
	if err := h.q.CheckSendBatch(name, ins); err != nil {
		return nil, err
	}
	out := &sendBatchOutput{Successful: []*sendOutput{}, Failed: []batchError{}}
	for i := range in.Entries {
		e := &in.Entries[i]
		r, err := h.send(ctx, c, name, e, true)
		if err != nil {
			if ae := sqs.AsError(err); ae.Status >= 500 {
				h.log.Error("sqs batch entry failed", "op", c.op, "err", err)
			}
			out.Failed = append(out.Failed, failed(*e.Id, err))
			continue
		}
		r.Id = *e.Id
		out.Successful = append(out.Successful, r)
	}
	return out, nil
}

type messageOutput struct {
	MessageId              string                               `json:"MessageId"`
	ReceiptHandle          string                               `json:"ReceiptHandle"`
	MD5OfBody              string                               `json:"MD5OfBody"`
	Body                   string                               `json:"Body"`
	Attributes             map[string]string                    `json:"Attributes,omitempty"`
	MD5OfMessageAttributes string                               `json:"MD5OfMessageAttributes,omitempty"`
	MessageAttributes      map[string]sqs.MessageAttributeValue `json:"MessageAttributes,omitempty"`
}

type receiveOutput struct {
	Messages []messageOutput `json:"Messages,omitempty"`
}

func receiveMessage(ctx context.Context, h *Handler, c *call, in *input) (any, error) {
	name, err := h.queueOf(c, in)
	if err != nil {
		return nil, err
	}
	max, err := intParam("MaxNumberOfMessages", in.MaxNumberOfMessages)
	if err != nil {
		return nil, err
	}
	vis, err := intParam("VisibilityTimeout", in.VisibilityTimeout)
	if err != nil {
		return nil, err
	}
	wait, err := intParam("WaitTimeSeconds", in.WaitTimeSeconds)
	if err != nil {
		return nil, err
	}
	rin := &sqs.ReceiveMessageInput{QueueName: name, VisibilityTimeout: vis, WaitTimeSeconds: wait, MessageAttributeNames: in.MessageAttributeNames}
	if max != nil {
		if *max < 1 || *max > sqs.MaxMessagesPerReceive {
			return nil, sqs.NewError("InvalidParameterValue", "Value %d for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.", *max)
		}
		rin.MaxNumberOfMessages = *max
	}
	rin.AttributeNames = append(append(rin.AttributeNames, in.AttributeNames...), in.MessageSystemAttributeNames...)
	msgs, err := h.q.ReceiveMessage(ctx, rin)
	if err != nil && len(msgs) == 0 {
		return nil, err
	}
	out := &receiveOutput{}
	for _, m := range msgs {
		out.Messages = append(out.Messages, messageOutput{MessageId: m.MessageId, ReceiptHandle: m.ReceiptHandle, MD5OfBody: m.MD5OfBody,
			Body: m.Body, Attributes: m.Attributes, MD5OfMessageAttributes: m.MD5OfMessageAttributes, MessageAttributes: m.MessageAttributes})
	}
	return out, nil
}

func deleteMessage(ctx context.Context, h *Handler, c *call, in *input) (any, error) {
	name, err := h.queueOf(c, in)
	if err != nil {
		return nil, err
	}
	if in.ReceiptHandle == nil {
		return nil, missing("ReceiptHandle")
	}
	return nil, h.q.DeleteMessage(ctx, name, *in.ReceiptHandle)
}

type idOutput struct {
	Id string `json:"Id"`
}

type idBatchOutput struct {
	Successful []idOutput   `json:"Successful"`
	Failed     []batchError `json:"Failed"`
}

func deleteMessageBatch(ctx context.Context, h *Handler, c *call, in *input) (any, error) {
	return eachEntry(ctx, h, c, in, "DeleteMessageBatch", func(name string, e *entry) error {
		if e.ReceiptHandle == nil {
			return missing("ReceiptHandle")
		}
		return h.q.DeleteMessage(ctx, name, *e.ReceiptHandle)
	})
}

func changeMessageVisibility(ctx context.Context, h *Handler, c *call, in *input) (any, error) {
	name, err := h.queueOf(c, in)
	if err != nil {
		return nil, err
	}
	if in.ReceiptHandle == nil {
		return nil, missing("ReceiptHandle")
	}
	vis, err := intParam("VisibilityTimeout", in.VisibilityTimeout)
	if err != nil {
		return nil, err
	}
	if vis == nil {
		return nil, missing("VisibilityTimeout")
	}
	return nil, h.q.ChangeMessageVisibility(ctx, name, *in.ReceiptHandle, *vis)
}

func changeMessageVisibilityBatch(ctx context.Context, h *Handler, c *call, in *input) (any, error) {
	return eachEntry(ctx, h, c, in, "ChangeMessageVisibilityBatch", func(name string, e *entry) error {
		if e.ReceiptHandle == nil {
			return missing("ReceiptHandle")
		}
		vis, err := intParam("VisibilityTimeout", e.VisibilityTimeout)
		if err != nil {
			return err
		}
		if vis == nil {
			return missing("VisibilityTimeout")
		}
		return h.q.ChangeMessageVisibility(ctx, name, *e.ReceiptHandle, *vis)
	})
}

// eachEntry runs a batch whose entries answer only their ids.
func eachEntry(ctx context.Context, h *Handler, c *call, in *input, op string, do func(queue string, e *entry) error) (any, error) {
	name, err := h.queueOf(c, in)
	if err != nil {
		return nil, err
	}
	if err := checkBatch(op, in.Entries); err != nil {
		return nil, err
	}
	out := &idBatchOutput{Successful: []idOutput{}, Failed: []batchError{}}
	for i := range in.Entries {
		e := &in.Entries[i]
		if err := do(name, e); err != nil {
			var se *sqs.Error
			if !errors.As(err, &se) {
				h.log.Error("sqs batch entry failed", "op", op, "err", err)
			}
			out.Failed = append(out.Failed, failed(*e.Id, err))
			continue
		}
		out.Successful = append(out.Successful, idOutput{Id: *e.Id})
	}
	return out, nil
}

func tagQueue(ctx context.Context, h *Handler, c *call, in *input) (any, error) {
	name, err := h.queueOf(c, in)
	if err != nil {
		return nil, err
	}
	if len(in.Tags) == 0 {
		return nil, missing("Tags")
	}
	return nil, h.q.TagQueue(ctx, name, in.Tags)
}

func untagQueue(ctx context.Context, h *Handler, c *call, in *input) (any, error) {
	name, err := h.queueOf(c, in)
	if err != nil {
		return nil, err
	}
	if len(in.TagKeys) == 0 {
		return nil, missing("TagKeys")
	}
	return nil, h.q.UntagQueue(ctx, name, in.TagKeys)
}

type tagsOutput struct {
	Tags map[string]string `json:"Tags,omitempty"`
}

func listQueueTags(ctx context.Context, h *Handler, c *call, in *input) (any, error) {
	name, err := h.queueOf(c, in)
	if err != nil {
		return nil, err
	}
	tags, err := h.q.ListQueueTags(name)
	if err != nil {
		return nil, err
	}
	return &tagsOutput{Tags: tags}, nil
}

// jsonOutput renders an output; no output is "{}".
func jsonOutput(out any) ([]byte, error) {
	if out == nil {
		return []byte("{}"), nil
	}
	return json.Marshal(out)
}

func jsonError(e *sqs.Error) []byte {
	b, _ := json.Marshal(struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}{"com.amazonaws.sqs#" + e.Code, e.Message})
	return b
}
