package lambdaapi

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/hearthfn/hearth/internal/errdefs"
)

// operation is one entry of the API model.
type operation struct {
	Name   string
	Method string
	Path   string // template, e.g. /2015-03-31/functions/{FunctionName}/aliases/{Name}
	Status int
}

// route is an operation's template split for matching.
type route struct {
	op       *operation
	segments []string // literal, or "{Label}"
	query    [2]string
}

func buildRoutes(ops []operation) []route {
	routes := make([]route, 0, len(ops))
	for i := range ops {
		op := &ops[i]
		path, q, _ := strings.Cut(op.Path, "?")
		rt := route{op: op, segments: strings.Split(strings.Trim(path, "/"), "/")}
		if q != "" {
			k, v, _ := strings.Cut(q, "=")
			rt.query = [2]string{k, v}
		}
		routes = append(routes, rt)
	}
	return routes
}

// match finds the operation for a method and path. A route that also requires a
// query literal (?List=ALL) wins over one that does not.
func (s *Server) match(r *http.Request) (*operation, map[string]string, error) {
	raw := r.URL.EscapedPath()
	segs := strings.Split(strings.Trim(raw, "/"), "/")
	var (
		best       *route
		bestParams map[string]string
		pathFound  bool
	)
	for i := range s.routes {
		rt := &s.routes[i]
		params, ok := matchSegments(rt.segments, segs)
		if !ok {
			continue
		}
		if rt.query[0] != "" && r.URL.Query().Get(rt.query[0]) != rt.query[1] {
			continue
		}
		pathFound = true
		if rt.op.Method != r.Method {
			continue
		}
		if best == nil || rt.query[0] != "" {
			best, bestParams = rt, params
		}
	}
	if best == nil {
		if pathFound {
			return nil, nil, errdefs.New(errdefs.ErrUnknownOperation, "No Lambda operation takes %s on %s.", r.Method, r.URL.Path)
		}
		return nil, nil, errdefs.New(errdefs.ErrUnknownOperation, "No Lambda operation has the path %s.", r.URL.Path)
	}
	return best.op, bestParams, nil
}

func matchSegments(tmpl, segs []string) (map[string]string, bool) {
	if len(tmpl) != len(segs) {
		return nil, false
	}
	var params map[string]string
	for i, t := range tmpl {
		if strings.HasPrefix(t, "{") {
			v, err := url.PathUnescape(segs[i])
			if err != nil || v == "" {
				return nil, false
			}
			if params == nil {
				params = make(map[string]string, 2)
			}
			params[strings.Trim(t, "{}+")] = v
			continue
		}
		if t != segs[i] {
			return nil, false
		}
	}
	return params, true
}
