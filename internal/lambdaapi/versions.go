package lambdaapi

import (
	"context"

	"github.com/hearthfn/hearth/internal/control"
)

func (s *Server) registerVersions() {
	s.handle("PublishVersion", func(ctx context.Context, rq *request) (any, error) {
		var in control.PublishVersionInput
		if err := decode(rq.body, &in); err != nil {
			return nil, err
		}
		in.FunctionName = rq.param("FunctionName")
		return s.ctl.PublishVersion(ctx, &in)
	})
	s.handle("ListVersionsByFunction", func(ctx context.Context, rq *request) (any, error) {
		n, err := maxItemsOf(rq.query, control.MaxListItems)
		if err != nil {
			return nil, err
		}
		return s.ctl.ListVersionsByFunction(ctx, rq.param("FunctionName"), rq.query.Get("Marker"), n)
	})
}
