package lambdaapi

import (
	"context"
	"net/http"
	"strconv"

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
}
