package lambdaapi

import (
	"context"
	"net/http"
	"strconv"

	"github.com/hearthfn/hearth/internal/errdefs"
	"github.com/hearthfn/hearth/internal/invoke"
)

// rawResponse is a handler output written as is: Invoke answers with the function's
// bytes and its own headers, not a JSON document of the edge's.
type rawResponse struct {
	status int
	header http.Header
	body   []byte
}

func (s *Server) registerInvoke(d *invoke.Dispatcher) {
	s.handle("Invoke", func(ctx context.Context, rq *request) (any, error) {
		out, err := d.Invoke(ctx, &invoke.Input{
			RequestID:      rq.id,
			FunctionName:   rq.param("FunctionName"),
			Qualifier:      rq.query.Get("Qualifier"),
			InvocationType: rq.header.Get("X-Amz-Invocation-Type"),
			LogType:        rq.header.Get("X-Amz-Log-Type"),
			ClientContext:  rq.header.Get("X-Amz-Client-Context"),
			TraceHeader:    rq.header.Get("X-Amzn-Trace-Id"),
			Payload:        rq.body,
		})
		if err != nil {
			return nil, err
		}
		h := http.Header{}
		if out.ExecutedVersion != "" && out.StatusCode == http.StatusOK {
			h.Set("X-Amz-Executed-Version", out.ExecutedVersion)
		}
		if out.FunctionError != "" {
			h.Set("X-Amz-Function-Error", out.FunctionError)
		}
		if out.LogResult != "" {
			h.Set("X-Amz-Log-Result", out.LogResult)
		}
		if out.StatusCode == http.StatusOK {
			h.Set("Content-Type", "application/json")
		}
		h.Set("Content-Length", strconv.Itoa(len(out.Payload)))
		return &rawResponse{status: out.StatusCode, header: h, body: out.Payload}, nil
	})
	// InvokeAsync is the deprecated form of an Event invoke (the AWS CLI's
	// invoke-async): the body is the event, 256 KB at most, and the answer 202
	// with {"Status":202}. It goes through the same durable queue.
	s.handle("InvokeAsync", func(ctx context.Context, rq *request) (any, error) {
		if len(rq.body) > maxInvokeAsyncArgs {
			// AWS's text for this limit is not recorded; this is the form of its
			// answers to other request bodies over their operation's limit.
			return nil, errdefs.New(errdefs.ErrRequestEntityTooLarge, "Request must be smaller than %d bytes for the InvokeAsync operation", maxInvokeAsyncArgs)
		}
		if _, err := d.Invoke(ctx, &invoke.Input{
			RequestID:      rq.id,
			FunctionName:   rq.param("FunctionName"),
			InvocationType: "Event",
			TraceHeader:    rq.header.Get("X-Amzn-Trace-Id"),
			Payload:        rq.body,
		}); err != nil {
			return nil, err
		}
		h := http.Header{"Content-Type": {"application/json"}}
		body := []byte(`{"Status":202}`)
		h.Set("Content-Length", strconv.Itoa(len(body)))
		return &rawResponse{status: http.StatusAccepted, header: h, body: body}, nil
	})
}

// maxInvokeAsyncArgs is InvokeAsync's payload limit (it kept the old 256 KB).
const maxInvokeAsyncArgs = 256 * 1024
