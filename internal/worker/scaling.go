package worker

import (
	"math"
	"time"

	"github.com/hearthfn/hearth/internal/errdefs"
)

// The concurrency scaling rate, as Lambda defines it: each function may get at most
// ScalingRate new execution environments every 10 seconds, refilled continuously
// and never banked beyond that. Past it an invoke that needs a new env is
// throttled; warm envs and provisioned ones are not affected.

// ReasonScaling is a scaling-rate throttle's Reason. AWS documents the 429, not
// its Reason; of its SDKs' Reason values this is the one about the function's rate.
const ReasonScaling = "FunctionInvocationRateLimitExceeded"

// DefaultScalingRate is Lambda's: 1,000 new envs per function per 10 s.
const DefaultScalingRate = 1000

// scaleBucket is one function's token bucket of new envs.
type scaleBucket struct {
	tokens float64
	at     time.Time
}

// maxScaleBuckets bounds the buckets kept; full ones (which say nothing a new
// bucket would not) go first.
const maxScaleBuckets = 4096

// scaleUpLocked takes a new env of fn out of its bucket, or throttles.
func (p *Pool) scaleUpLocked(fn string, now time.Time) error {
	limit := float64(p.cfg.ScalingRate)
	if limit <= 0 {
		return nil
	}
	perSec := limit / 10
	b := p.scaling[fn]
	if b == nil {
		if len(p.scaling) >= maxScaleBuckets {
			for name, x := range p.scaling {
				if x.tokens+now.Sub(x.at).Seconds()*perSec >= limit {
					delete(p.scaling, name)
				}
			}
		}
		b = &scaleBucket{tokens: limit, at: now}
		p.scaling[fn] = b
	}
	b.tokens = math.Min(limit, b.tokens+now.Sub(b.at).Seconds()*perSec)
	b.at = now
	if b.tokens < 1 {
		wait := int(math.Ceil((1 - b.tokens) / perSec))
		return errdefs.RetryLater(ReasonScaling, wait,
			"Rate Exceeded. Function %s is scaling faster than %d new execution environments per 10 seconds (hearth serve --scaling-rate).", fn, p.cfg.ScalingRate)
	}
	b.tokens--
	return nil
}
