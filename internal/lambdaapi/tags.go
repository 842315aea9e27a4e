package lambdaapi

import (
	"context"
)

func (s *Server) registerTags() {
	s.handle("TagResource", func(ctx context.Context, rq *request) (any, error) {
		var in struct {
			Tags map[string]string `json:"Tags"`
		}
		if err := decode(rq.body, &in); err != nil {
			return nil, err
		}
		return nil, s.ctl.TagResource(ctx, rq.param("Resource"), in.Tags)
	})
	s.handle("UntagResource", func(ctx context.Context, rq *request) (any, error) {
		return nil, s.ctl.UntagResource(ctx, rq.param("Resource"), rq.query["tagKeys"])
	})
	s.handle("ListTags", func(ctx context.Context, rq *request) (any, error) {
		tags, err := s.ctl.ListTags(ctx, rq.param("Resource"))
		if err != nil {
			return nil, err
		}
		return struct {
			Tags map[string]string `json:"Tags"`
		}{tags}, nil
	})
}
