package lambdaapi

import (
	"context"

	"github.com/hearthfn/hearth/internal/control"
)

func (s *Server) registerConcurrency() {
	s.handle("PutFunctionConcurrency", func(ctx context.Context, rq *request) (any, error) {
		var in control.Concurrency
		if err := decode(rq.body, &in); err != nil {
			return nil, err
		}
		return s.ctl.PutFunctionConcurrency(ctx, rq.param("FunctionName"), in.ReservedConcurrentExecutions)
	})
	s.handle("GetFunctionConcurrency", func(ctx context.Context, rq *request) (any, error) {
		return s.ctl.GetFunctionConcurrency(ctx, rq.param("FunctionName"))
	})
	s.handle("DeleteFunctionConcurrency", func(ctx context.Context, rq *request) (any, error) {
		return nil, s.ctl.DeleteFunctionConcurrency(ctx, rq.param("FunctionName"))
	})
}

func (s *Server) registerProvisioned() {
	s.handle("PutProvisionedConcurrencyConfig", func(ctx context.Context, rq *request) (any, error) {
		var in struct {
			ProvisionedConcurrentExecutions *int `json:"ProvisionedConcurrentExecutions"`
		}
		if err := decode(rq.body, &in); err != nil {
			return nil, err
		}
		var check control.ProvisionCheck
		if s.inv != nil {
			check = s.inv.CheckProvision
		}
		out, err := s.ctl.PutProvisionedConcurrencyConfig(ctx, rq.param("FunctionName"), rq.query.Get("Qualifier"), in.ProvisionedConcurrentExecutions, check)
		if err != nil {
			return nil, err
		}
		if s.inv != nil {
			s.inv.KickProvisioner()
		}
		return out, nil // IN_PROGRESS, nothing allocated yet: as Lambda answers a Put
	})
	s.handle("GetProvisionedConcurrencyConfig", func(ctx context.Context, rq *request) (any, error) {
		out, err := s.ctl.GetProvisionedConcurrencyConfig(ctx, rq.param("FunctionName"), rq.query.Get("Qualifier"))
		if err != nil {
			return nil, err
		}
		s.provisionedStatus(out)
		return out, nil
	})
	s.handle("DeleteProvisionedConcurrencyConfig", func(ctx context.Context, rq *request) (any, error) {
		err := s.ctl.DeleteProvisionedConcurrencyConfig(ctx, rq.param("FunctionName"), rq.query.Get("Qualifier"))
		if err == nil && s.inv != nil {
			s.inv.KickProvisioner()
		}
		return nil, err
	})
	s.handle("ListProvisionedConcurrencyConfigs", func(ctx context.Context, rq *request) (any, error) {
		n, err := maxItemsOf(rq.query, control.MaxProvisionedListItems)
		if err != nil {
			return nil, err
		}
		out, err := s.ctl.ListProvisionedConcurrencyConfigs(ctx, rq.param("FunctionName"), rq.query.Get("Marker"), n)
		if err != nil {
			return nil, err
		}
		for _, c := range out.ProvisionedConcurrencyConfigs {
			s.provisionedStatus(c)
		}
		return out, nil
	})
}

// provisionedStatus fills in a config's allocation from the worker (IN_PROGRESS
// with nothing allocated on a node that runs no invocations).
func (s *Server) provisionedStatus(c *control.ProvisionedConcurrencyConfig) {
	c.Status = "IN_PROGRESS"
	if s.inv != nil {
		s.inv.ProvisionedStatus(c)
	}
}
