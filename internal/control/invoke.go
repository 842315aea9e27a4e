package control

import (
	"context"
	"math/rand/v2"
	"strconv"
)

// InvokeTarget is what the invoke path needs of a version: everything that shapes
// its execution environment, and which version a call really ran.
type InvokeTarget struct {
	FunctionName string
	FunctionArn  string // the ARN the caller invoked (qualified as called)
	Version      string // the version that runs ("$LATEST", "3")
	Runtime      string
	Handler      string
	MemoryMB     int
	TimeoutSec   int
	EphemeralMB  int
	Environment  map[string]string
	CodeKey      string // hex SHA-256 of the zip
	// ConfigID changes whenever anything that shapes the env changes, so new code or
	// configuration gets new envs and old ones drain.
	ConfigID string
}

// ResolveInvoke resolves a function name and qualifier for Invoke. An alias with a
// routing configuration picks its additional version with the configured weight.
func (s *Service) ResolveInvoke(ctx context.Context, functionName, qualifier string) (*InvokeTarget, error) {
	ref, err := s.ParseFunctionRef("functionName", functionName)
	if err != nil {
		return nil, err
	}
	r, err := s.resolve(ref, qualifier)
	if err != nil {
		return nil, err
	}
	invoked := s.FunctionArn(r.rec.Name)
	if q, _ := resolveQualifier(ref, qualifier); q != "" {
		invoked = s.QualifiedArn(r.rec.Name, q)
	}
	v := r.version
	if r.alias != nil {
		for extra, w := range r.alias.Weights {
			if rand.Float64() < w {
				n, _ := strconv.Atoi(extra)
				if ev, err := s.loadVersion(r.rec, n); err == nil {
					v = ev
				}
			}
		}
	}
	return &InvokeTarget{
		FunctionName: r.rec.Name,
		FunctionArn:  invoked,
		Version:      v.Version,
		Runtime:      v.Runtime,
		Handler:      v.Handler,
		MemoryMB:     v.MemorySize,
		TimeoutSec:   v.Timeout,
		EphemeralMB:  v.EphemeralMB,
		Environment:  v.Environment,
		CodeKey:      v.CodeKey,
		ConfigID:     r.rec.Gen + "/" + v.Version + "/" + v.RevisionId,
	}, nil
}
