package lambdaapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/hearthfn/hearth/internal/control"
	"github.com/hearthfn/hearth/internal/errdefs"
)

// The operator's view of concurrency, not part of the Lambda API (on AWS it is
// CloudWatch's ConcurrentExecutions and Throttles metrics):
//
//	GET /_hearth/concurrency
//
// answers, from the same counters that enforce the limits, the account's limit and
// unreserved pool, and per function its reservation, its provisioned concurrency
// (requested, allocated, available, busy — from the envs the worker keeps),
// executions in flight (on-demand and provisioned) and throttles since this node
// started. The account's key only.
const concurrencyPath = "/_hearth/concurrency"

type concurrencyView struct {
	AccountLimit                   int                   `json:"AccountLimit"`
	UnreservedConcurrentExecutions int                   `json:"UnreservedConcurrentExecutions"`
	UnreservedInFlight             int                   `json:"UnreservedInFlight"`
	Functions                      []functionConcurrency `json:"Functions"`
}

type functionConcurrency struct {
	FunctionName                 string              `json:"FunctionName"`
	ReservedConcurrentExecutions *int                `json:"ReservedConcurrentExecutions"`
	Provisioned                  *provisionedSummary `json:"Provisioned,omitempty"`
	InFlight                     int                 `json:"InFlight"`
	ProvisionedInFlight          int                 `json:"ProvisionedInFlight"`
	Throttles                    int64               `json:"Throttles"`
}

// provisionedSummary sums a function's provisioned concurrency configs.
type provisionedSummary struct {
	Requested, Allocated, Available, Busy int
	Configs                               []provisionedLine
}

type provisionedLine struct {
	Qualifier, Status, StatusReason       string `json:",omitempty"`
	Requested, Allocated, Available, Busy int
}

// operatorView checks a GET of one of the operator's views (/_hearth/…): signed
// with the account's key (an env's credentials may not read counters), on a node
// that runs invocations. It has answered the request when it returns false.
func (s *Server) operatorView(w http.ResponseWriter, r *http.Request, what string) bool {
	sig, err := s.verifier.VerifyHeaders(r)
	if err == nil {
		_, err = sig.VerifyBody(nil)
	}
	if err != nil {
		s.writeError(w, r, authError(err))
		return false
	}
	if sig.SessionToken() != "" {
		s.writeError(w, r, errdefs.New(errdefs.ErrAccessDenied, "An execution role's temporary credentials cannot read the %s counters.", what))
		return false
	}
	if s.inv == nil {
		s.writeError(w, r, errdefs.New(errdefs.ErrNotImplemented, "This Hearth node runs no invocations."))
		return false
	}
	return true
}

func (s *Server) serveConcurrency(w http.ResponseWriter, r *http.Request) {
	if !s.operatorView(w, r, "concurrency") {
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
		c := counts[name]
		f := functionConcurrency{FunctionName: name, InFlight: c.InFlight, ProvisionedInFlight: c.ProvisionedInFlight, Throttles: c.Throttles}
		l, err := s.ctl.ConcurrencyLimits(name)
		if err == nil && l.HasReserved {
			n := l.Reserved
			f.ReservedConcurrentExecutions = &n
		}
		if err == nil && l.Provisioned > 0 {
			f.Provisioned = s.provisionedSummary(r, name)
		}
		view.Functions = append(view.Functions, f)
	}
	b, _ := json.Marshal(view)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b)
}

func (s *Server) provisionedSummary(r *http.Request, name string) *provisionedSummary {
	sum := &provisionedSummary{}
	marker := ""
	for {
		page, err := s.ctl.ListProvisionedConcurrencyConfigs(r.Context(), name, marker, control.MaxProvisionedListItems)
		if err != nil {
			return sum
		}
		for _, c := range page.ProvisionedConcurrencyConfigs {
			s.provisionedStatus(c)
			busy := s.inv.ProvisionedBusy(c)
			q := c.FunctionArn[strings.LastIndexByte(c.FunctionArn, ':')+1:]
			sum.Configs = append(sum.Configs, provisionedLine{
				Qualifier: q, Status: c.Status, StatusReason: c.StatusReason,
				Requested: c.RequestedProvisionedConcurrentExecutions,
				Allocated: c.AllocatedProvisionedConcurrentExecutions,
				Available: c.AvailableProvisionedConcurrentExecutions,
				Busy:      busy,
			})
			sum.Requested += c.RequestedProvisionedConcurrentExecutions
			sum.Allocated += c.AllocatedProvisionedConcurrentExecutions
			sum.Available += c.AvailableProvisionedConcurrentExecutions
			sum.Busy += busy
		}
		if page.NextMarker == "" {
			return sum
		}
		marker = page.NextMarker
	}
}
