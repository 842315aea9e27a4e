package lambdaapi

import "context"

func (s *Server) registerAccount() {
	s.handle("GetAccountSettings", func(ctx context.Context, rq *request) (any, error) {
		return s.ctl.GetAccountSettings(ctx)
	})
}
