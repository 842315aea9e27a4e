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
