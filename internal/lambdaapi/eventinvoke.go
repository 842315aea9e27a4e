package lambdaapi

import (
	"context"

	"github.com/hearthfn/hearth/internal/control"
)

// registerEventInvoke serves the configuration of asynchronous invocation:
// EventInvokeConfigs (per $LATEST, version or alias) and recursive loop detection.
func (s *Server) registerEventInvoke() {
	set := func(update bool) handlerFunc {
		return func(ctx context.Context, rq *request) (any, error) {
			var in control.EventInvokeConfigInput
			if err := decode(rq.body, &in); err != nil {
				return nil, err
			}
			if update {
				return s.ctl.UpdateFunctionEventInvokeConfig(ctx, rq.param("FunctionName"), rq.query.Get("Qualifier"), &in)
			}
			return s.ctl.PutFunctionEventInvokeConfig(ctx, rq.param("FunctionName"), rq.query.Get("Qualifier"), &in)
		}
	}
	s.handle("PutFunctionEventInvokeConfig", set(false))
	s.handle("UpdateFunctionEventInvokeConfig", set(true))
	s.handle("GetFunctionEventInvokeConfig", func(ctx context.Context, rq *request) (any, error) {
		return s.ctl.GetFunctionEventInvokeConfig(ctx, rq.param("FunctionName"), rq.query.Get("Qualifier"))
	})
	s.handle("DeleteFunctionEventInvokeConfig", func(ctx context.Context, rq *request) (any, error) {
		return nil, s.ctl.DeleteFunctionEventInvokeConfig(ctx, rq.param("FunctionName"), rq.query.Get("Qualifier"))
	})
	s.handle("ListFunctionEventInvokeConfigs", func(ctx context.Context, rq *request) (any, error) {
		n, err := maxItemsOf(rq.query, control.MaxEventInvokeListItems)
		if err != nil {
			return nil, err
		}
		return s.ctl.ListFunctionEventInvokeConfigs(ctx, rq.param("FunctionName"), rq.query.Get("Marker"), n)
	})
	s.handle("PutFunctionRecursionConfig", func(ctx context.Context, rq *request) (any, error) {
		var in control.FunctionRecursionConfig
		if err := decode(rq.body, &in); err != nil {
			return nil, err
		}
		return s.ctl.PutFunctionRecursionConfig(ctx, rq.param("FunctionName"), in.RecursiveLoop)
	})
	s.handle("GetFunctionRecursionConfig", func(ctx context.Context, rq *request) (any, error) {
		return s.ctl.GetFunctionRecursionConfig(ctx, rq.param("FunctionName"))
	})
}
