package lambdaapi

import (
	"context"

	"github.com/hearthfn/hearth/internal/control"
)

func (s *Server) registerAliases() {
	s.handle("CreateAlias", func(ctx context.Context, rq *request) (any, error) {
		var in control.CreateAliasInput
		if err := decode(rq.body, &in); err != nil {
			return nil, err
		}
		in.FunctionName = rq.param("FunctionName")
		return s.ctl.CreateAlias(ctx, &in)
	})
	s.handle("GetAlias", func(ctx context.Context, rq *request) (any, error) {
		return s.ctl.GetAlias(ctx, rq.param("FunctionName"), rq.param("Name"))
	})
	s.handle("UpdateAlias", func(ctx context.Context, rq *request) (any, error) {
		var in control.UpdateAliasInput
		if err := decode(rq.body, &in); err != nil {
			return nil, err
		}
		in.FunctionName, in.Name = rq.param("FunctionName"), rq.param("Name")
		return s.ctl.UpdateAlias(ctx, &in)
	})
	s.handle("DeleteAlias", func(ctx context.Context, rq *request) (any, error) {
		return nil, s.ctl.DeleteAlias(ctx, rq.param("FunctionName"), rq.param("Name"))
	})
	s.handle("ListAliases", func(ctx context.Context, rq *request) (any, error) {
		n, err := maxItemsOf(rq.query, control.MaxListItems)
		if err != nil {
			return nil, err
		}
		return s.ctl.ListAliases(ctx, rq.param("FunctionName"), rq.query.Get("FunctionVersion"), rq.query.Get("Marker"), n)
	})
}
