package lambdaapi

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/hearthfn/hearth/internal/errdefs"
)

// The operator's view of concurrency, not part of the Lambda API (on AWS it is
// CloudWatch's ConcurrentExecutions and Throttles metrics):
//
//	GET /_hearth/concurrency
//
// answers, from the same counters that enforce the limits, the account's limit and
// unreserved pool, and per function its reservation, executions in flight and
// throttles since this node started. The account's key only.
const concurrencyPath = "/_hearth/concurrency"

type concurrencyView struct {
	AccountLimit                   int                   `json:"AccountLimit"`
	UnreservedConcurrentExecutions int                   `json:"UnreservedConcurrentExecutions"`
	UnreservedInFlight             int                   `json:"UnreservedInFlight"`
	Functions                      []functionConcurrency `json:"Functions"`
}

type functionConcurrency struct {
	FunctionName                 string `json:"FunctionName"`
	ReservedConcurrentExecutions *int   `json:"ReservedConcurrentExecutions"`
	InFlight                     int    `json:"InFlight"`
	Throttles                    int64  `json:"Throttles"`
}

func (s *Server) serveConcurrency(w http.ResponseWriter, r *http.Request) {
	sig, err := s.verifier.VerifyHeaders(r)
	if err == nil {
		_, err = sig.VerifyBody(nil)
	}
	if err != nil {
		s.writeError(w, r, authError(err))
		return
	}
	if sig.SessionToken() != "" {
		s.writeError(w, r, errdefs.New(errdefs.ErrAccessDenied, "An execution role's temporary credentials cannot read the concurrency counters."))
		return
	}
	if s.inv == nil {
		s.writeError(w, r, errdefs.New(errdefs.ErrNotImplemented, "This Hearth node runs no invocations."))
		return
	}
	settings, err := s.ctl.GetAccountSettings(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	counts, pooled := s.inv.Concurrency()
	view := concurrencyView{
		AccountLimit:                   settings.AccountLimit.ConcurrentExecutions,
		UnreservedConcurrentExecutions: settings.AccountLimit.UnreservedConcurrentExecutions,
		UnreservedInFlight:             pooled,
		Functions:                      []functionConcurrency{},
	}
	for _, name := range s.ctl.FunctionNames() {
		f := functionConcurrency{FunctionName: name, InFlight: counts[name].InFlight, Throttles: counts[name].Throttles}
		if l, err := s.ctl.ConcurrencyLimits(name); err == nil && l.HasReserved {
			n := l.Reserved
			f.ReservedConcurrentExecutions = &n
		}
		view.Functions = append(view.Functions, f)
	}
	b, _ := json.Marshal(view)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b)
}
