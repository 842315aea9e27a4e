package lambdaapi

import (
	"encoding/json"
	"net/http"

	"github.com/hearthfn/hearth/internal/async"
	"github.com/hearthfn/hearth/internal/errdefs"
)

// The operator's view of asynchronous invocation, not part of the Lambda API (on
// AWS it is CloudWatch's AsyncEventsReceived, AsyncEventsDropped,
// DestinationDeliveryFailures and DeadLetterErrors metrics):
//
//	GET /_hearth/async
//
// answers, per function, the events stored now (all nodes') and this node's
// counters since it started: received, succeeded, failed by condition, retried,
// throttled, dropped, and failed deliveries to destinations and dead-letter
// queues. The account's key only.
const asyncPath = "/_hearth/async"

type asyncView struct {
	Functions []async.FunctionStats `json:"Functions"`
}

func (s *Server) serveAsync(w http.ResponseWriter, r *http.Request) {
	if !s.operatorView(w, r, "asynchronous invocation") {
		return
	}
	if s.async == nil {
		s.writeError(w, r, errdefs.New(errdefs.ErrNotImplemented, "This Hearth node queues no asynchronous invocations."))
		return
	}
	view := asyncView{Functions: s.async.Stats(r.Context())}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(view)
}
