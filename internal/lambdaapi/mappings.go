package lambdaapi

import (
	"context"

	"github.com/hearthfn/hearth/internal/control"
)

// registerMappings serves event source mappings; the pollers (internal/esm) notice
// changes through the registry's mirror, so the edge has nothing to kick.
func (s *Server) registerMappings() {
	s.handle("CreateEventSourceMapping", func(ctx context.Context, rq *request) (any, error) {
		var in control.EventSourceMappingInput
		if err := decode(rq.body, &in); err != nil {
			return nil, err
		}
		return s.ctl.CreateEventSourceMapping(ctx, &in)
	})
	s.handle("GetEventSourceMapping", func(ctx context.Context, rq *request) (any, error) {
		return s.ctl.GetEventSourceMapping(ctx, rq.param("UUID"))
	})
	s.handle("UpdateEventSourceMapping", func(ctx context.Context, rq *request) (any, error) {
		var in control.EventSourceMappingInput
		if err := decode(rq.body, &in); err != nil {
			return nil, err
		}
		return s.ctl.UpdateEventSourceMapping(ctx, rq.param("UUID"), &in)
	})
	s.handle("DeleteEventSourceMapping", func(ctx context.Context, rq *request) (any, error) {
		return s.ctl.DeleteEventSourceMapping(ctx, rq.param("UUID"))
	})
	s.handle("ListEventSourceMappings", func(ctx context.Context, rq *request) (any, error) {
		n, err := maxItemsOf(rq.query, control.MaxMappingListItems)
		if err != nil {
			return nil, err
		}
		return s.ctl.ListEventSourceMappings(ctx, rq.query.Get("EventSourceArn"), rq.query.Get("FunctionName"), rq.query.Get("Marker"), n)
	})
}
