package lambdaapi

import "context"

// registerAbsent serves the reads of things Hearth has none of yet (code signing
// configs, function URLs, resource-based policies); see control/absent.go.
func (s *Server) registerAbsent() {
	s.handle("GetFunctionCodeSigningConfig", func(ctx context.Context, rq *request) (any, error) {
		return s.ctl.GetFunctionCodeSigningConfig(ctx, rq.param("FunctionName"))
	})
	s.handle("GetFunctionUrlConfig", func(ctx context.Context, rq *request) (any, error) {
		return nil, s.ctl.FunctionURLConfigAbsent(ctx, rq.param("FunctionName"), rq.query.Get("Qualifier"))
	})
	s.handle("DeleteFunctionUrlConfig", func(ctx context.Context, rq *request) (any, error) {
		return nil, s.ctl.FunctionURLConfigAbsent(ctx, rq.param("FunctionName"), rq.query.Get("Qualifier"))
	})
	s.handle("ListFunctionUrlConfigs", func(ctx context.Context, rq *request) (any, error) {
		n, err := queryInt(rq.query, "MaxItems")
		if err != nil {
			return nil, err
		}
		return s.ctl.ListFunctionURLConfigs(ctx, rq.param("FunctionName"), n, rq.query.Has("MaxItems"))
	})
	s.handle("GetPolicy", func(ctx context.Context, rq *request) (any, error) {
		return nil, s.ctl.PolicyAbsent(ctx, rq.param("FunctionName"), rq.query.Get("Qualifier"))
	})
}
