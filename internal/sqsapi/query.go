package sqsapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/hearthfn/hearth/internal/sqs"
)

// The query protocol: Action and Version with the members flattened into form
// fields ("Attribute.1.Name", "MessageAttribute.2.Value.StringValue",
// "SendMessageBatchRequestEntry.3.Id"). parseQuery reshapes the form into the JSON
// request's shape and decodes that, so both protocols share one input type and one
// set of checks.

const (
	queryNamespace  = "http://queue.amazonaws.com/doc/2012-11-05/"
	maxFormFields   = 2000 // 10 entries × 10 attributes × 5 fields, with room
	maxFieldSegment = 8
)

func formError(msg string) error {
	return sqs.NewError("MalformedQueryString", "%s", msg)
}

// parseQuery reads the form (the URL's query and, for a POST, the body) into an input.
func parseQuery(r *http.Request, body []byte, c *call) (*input, error) {
	form, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, formError("The query string is not a valid form.")
	}
	if r.Method == http.MethodPost && len(body) > 0 {
		values, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, formError("The request body is not a valid form.")
		}
		for k, v := range values {
			form[k] = append(form[k], v...)
		}
	}
	c.op = form.Get("Action")
	return formInput(form)
}

// formInput turns form fields into an input.
func formInput(form url.Values) (*input, error) {
	if len(form) > maxFormFields {
		return nil, formError("Too many parameters.")
	}
	tree := map[string]any{}
	for key, vals := range form {
		if key == "Action" || key == "Version" || len(vals) == 0 || strings.HasPrefix(key, "X-Amz-") {
			continue
		}
		segs := strings.Split(key, ".")
		if len(segs) > maxFieldSegment {
			return nil, formError("Parameter " + key + " is nested too deep.")
		}
		node := tree
		for i, seg := range segs {
			if seg == "" {
				return nil, formError("Parameter " + key + " is malformed.")
			}
			if i == len(segs)-1 {
				if _, isMap := node[seg].(map[string]any); isMap {
					return nil, formError("Parameter " + key + " is malformed.")
				}
				node[seg] = vals[0]
				break
			}
			next, ok := node[seg].(map[string]any)
			if !ok {
				if _, isLeaf := node[seg]; isLeaf {
					return nil, formError("Parameter " + key + " is malformed.")
				}
				next = map[string]any{}
				node[seg] = next
			}
			node = next
		}
	}
	shaped, err := reshape(tree)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(shaped)
	if err != nil {
		return nil, formError("The request could not be read.")
	}
	in := &input{}
	if err := json.Unmarshal(b, in); err != nil {
		return nil, sqs.NewError("InvalidParameterValue", "A parameter of the request has the wrong type: %v", err)
	}
	return in, nil
}

// listOf turns a node keyed "1", "2", … into a list in index order.
func listOf(v any) ([]any, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, false
	}
	type item struct {
		i int
		v any
	}
	items := make([]item, 0, len(m))
	for k, x := range m {
		i, err := strconv.Atoi(k)
		if err != nil || i < 1 {
			return nil, false
		}
		items = append(items, item{i, x})
	}
	sort.Slice(items, func(a, b int) bool { return items[a].i < items[b].i })
	out := make([]any, len(items))
	for i, it := range items {
		out[i] = it.v
	}
	return out, true
}

// pairs turns a list of {kName: …, vName: …} into a map.
func pairs(v any, kName, vName string, value func(any) (any, error)) (map[string]any, error) {
	list, ok := listOf(v)
	if !ok {
		return nil, formError("A list parameter is malformed.")
	}
	out := map[string]any{}
	for _, x := range list {
		m, ok := x.(map[string]any)
		if !ok {
			return nil, formError("A map parameter is malformed.")
		}
		k, _ := m[kName].(string)
		val, err := value(m[vName])
		if err != nil {
			return nil, err
		}
		out[k] = val
	}
	return out, nil
}

func plain(v any) (any, error) {
	if v == nil {
		return "", nil
	}
	if _, ok := v.(string); !ok {
		return nil, formError("A value parameter is malformed.")
	}
	return v, nil
}

// attrValue reshapes a message attribute's Value (its list members are named
// StringListValue/BinaryListValue in the form, …Values in JSON).
func attrValue(v any) (any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return map[string]any{}, nil
	}
	out := map[string]any{}
	for k, x := range m {
		switch k {
		case "StringListValue", "BinaryListValue":
			list, ok := listOf(x)
			if !ok {
				return nil, formError("A list parameter is malformed.")
			}
			out[k+"s"] = list
		default:
			out[k] = x
		}
	}
	return out, nil
}

// reshape renames the query protocol's flattened members to the JSON request's.
func reshape(tree map[string]any) (map[string]any, error) {
	out := map[string]any{}
	for k, v := range tree {
		var err error
		switch {
		case k == "Attribute":
			out["Attributes"], err = pairs(v, "Name", "Value", plain)
		case k == "Tag":
			out["Tags"], err = pairs(v, "Key", "Value", plain)
		case k == "MessageAttribute" || k == "MessageSystemAttribute":
			out[k+"s"], err = pairs(v, "Name", "Value", attrValue)
		case k == "AttributeName" || k == "MessageAttributeName" || k == "MessageSystemAttributeName" || k == "TagKey":
			list, ok := listOf(v)
			if !ok {
				return nil, formError("Parameter " + k + " is malformed.")
			}
			out[k+"s"] = list
		case strings.HasSuffix(k, "BatchRequestEntry"):
			list, ok := listOf(v)
			if !ok {
				return nil, formError("Parameter " + k + " is malformed.")
			}
			entries := make([]any, 0, len(list))
			for _, e := range list {
				m, ok := e.(map[string]any)
				if !ok {
					return nil, formError("Parameter " + k + " is malformed.")
				}
				shaped, err := reshape(m)
				if err != nil {
					return nil, err
				}
				entries = append(entries, shaped)
			}
			out["Entries"] = entries
		default:
			out[k] = v
		}
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// XML rendering.

type xmlWriter struct{ b bytes.Buffer }

func (x *xmlWriter) open(tag string)  { x.b.WriteString("<" + tag + ">") }
func (x *xmlWriter) close(tag string) { x.b.WriteString("</" + tag + ">") }
func (x *xmlWriter) elem(tag, text string) {
	x.open(tag)
	_ = xml.EscapeText(&x.b, []byte(text))
	x.close(tag)
}

func (x *xmlWriter) attributes(tag string, m map[string]string) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		x.open(tag)
		x.elem("Name", k)
		x.elem("Value", m[k])
		x.close(tag)
	}
}

func (x *xmlWriter) sendResult(r *sendOutput) {
	if r.Id != "" {
		x.elem("Id", r.Id)
	}
	x.elem("MessageId", r.MessageId)
	x.elem("MD5OfMessageBody", r.MD5OfMessageBody)
	if r.MD5OfMessageAttributes != "" {
		x.elem("MD5OfMessageAttributes", r.MD5OfMessageAttributes)
	}
	if r.MD5OfMessageSystemAttributes != "" {
		x.elem("MD5OfMessageSystemAttributes", r.MD5OfMessageSystemAttributes)
	}
	if r.SequenceNumber != "" {
		x.elem("SequenceNumber", r.SequenceNumber)
	}
}

func (x *xmlWriter) failures(fs []batchError) {
	for _, f := range fs {
		x.open("BatchResultErrorEntry")
		x.elem("Id", f.Id)
		x.elem("SenderFault", strconv.FormatBool(f.SenderFault))
		x.elem("Code", f.Code)
		x.elem("Message", f.Message)
		x.close("BatchResultErrorEntry")
	}
}

func (x *xmlWriter) message(m *messageOutput) {
	x.open("Message")
	x.elem("MessageId", m.MessageId)
	x.elem("ReceiptHandle", m.ReceiptHandle)
	x.elem("MD5OfBody", m.MD5OfBody)
	x.elem("Body", m.Body)
	x.attributes("Attribute", m.Attributes)
	if m.MD5OfMessageAttributes != "" {
		x.elem("MD5OfMessageAttributes", m.MD5OfMessageAttributes)
	}
	names := make([]string, 0, len(m.MessageAttributes))
	for k := range m.MessageAttributes {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		v := m.MessageAttributes[k]
		x.open("MessageAttribute")
		x.elem("Name", k)
		x.open("Value")
		if v.StringValue != nil {
			x.elem("StringValue", *v.StringValue)
		}
		if v.BinaryValue != nil {
			x.elem("BinaryValue", base64.StdEncoding.EncodeToString(v.BinaryValue))
		}
		x.elem("DataType", v.DataType)
		x.close("Value")
		x.close("MessageAttribute")
	}
	x.close("Message")
}

// queryOutput renders op's output as the query protocol's XML document.
func queryOutput(op, requestID string, out any) ([]byte, error) {
	x := &xmlWriter{}
	x.b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>`)
	x.b.WriteString("<" + op + `Response xmlns="` + queryNamespace + `">`)
	if out != nil {
		x.open(op + "Result")
		switch o := out.(type) {
		case *queueURLOutput:
			x.elem("QueueUrl", o.QueueUrl)
		case *listQueuesOutput:
			for _, u := range o.QueueUrls {
				x.elem("QueueUrl", u)
			}
			if o.NextToken != "" {
				x.elem("NextToken", o.NextToken)
			}
		case *deadLetterSourcesOutput:
			for _, u := range o.QueueUrls {
				x.elem("QueueUrl", u)
			}
		case *attributesOutput:
			x.attributes("Attribute", o.Attributes)
		case *sendOutput:
			x.sendResult(o)
		case *sendBatchOutput:
			for _, r := range o.Successful {
				x.open("SendMessageBatchResultEntry")
				x.sendResult(r)
				x.close("SendMessageBatchResultEntry")
			}
			x.failures(o.Failed)
		case *receiveOutput:
			for i := range o.Messages {
				x.message(&o.Messages[i])
			}
		case *idBatchOutput:
			for _, r := range o.Successful {
				x.open(op + "ResultEntry")
				x.elem("Id", r.Id)
				x.close(op + "ResultEntry")
			}
			x.failures(o.Failed)
		case *tagsOutput:
			keys := make([]string, 0, len(o.Tags))
			for k := range o.Tags {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				x.open("Tag")
				x.elem("Key", k)
				x.elem("Value", o.Tags[k])
				x.close("Tag")
			}
		}
		x.close(op + "Result")
	}
	x.open("ResponseMetadata")
	x.elem("RequestId", requestID)
	x.close("ResponseMetadata")
	x.close(op + "Response")
	return x.b.Bytes(), nil
}

// queryError is the query protocol's error document.
func queryError(e *sqs.Error, fault, requestID string) []byte {
	x := &xmlWriter{}
	x.b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>`)
	x.b.WriteString(`<ErrorResponse xmlns="` + queryNamespace + `">`)
	x.open("Error")
	x.elem("Type", fault)
	x.elem("Code", e.QueryCode)
	msg := e.Message
	if e.QueryMessage != "" {
		msg = e.QueryMessage
	}
	x.elem("Message", msg)
	x.b.WriteString("<Detail/>")
	x.close("Error")
	x.elem("RequestId", requestID)
	x.close("ErrorResponse")
	return x.b.Bytes()
}
