// Package filter is Lambda's event filtering (an event source mapping's
// FilterCriteria): the pattern syntax Lambda shares with EventBridge, parsed once and
// matched against each record. It is a leaf, so the registry validates patterns with
// the same parser the pollers match with.
//
// A pattern is a JSON object. A key maps either to a nested pattern (the event's
// value there must be an object that matches it) or to an array of conditions, any
// of which may match: a literal (string, number, true, false, null), or one of
// {"prefix"}, {"suffix"}, {"equals-ignore-case"}, {"anything-but"}, {"numeric"},
// {"exists"}, {"wildcard"}. "$or" takes an array of patterns, any of which may
// match. Keys of one pattern must all match. An event value that is an array
// matches when any of its elements does.
package filter

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"sort"
	"strings"
)

// ErrInvalid is every malformed pattern; Lambda answers all of them with one text.
var ErrInvalid = errors.New("Invalid filter pattern definition.")

// MaxPatternBytes is the model's bound on a Filter's Pattern.
const MaxPatternBytes = 4096

// Pattern is one parsed filter.
type Pattern struct {
	fields []field
	or     [][]field // "$or" alternatives, each ANDed with fields
}

type field struct {
	key    string
	nested *Pattern    // an object pattern
	conds  []condition // an array of conditions
}

type condKind int

const (
	condEqual condKind = iota
	condPrefix
	condSuffix
	condEqualsIgnoreCase
	condAnythingBut
	condNumeric
	condExists
	condWildcard
)

type condition struct {
	kind  condKind
	value any         // literal for condEqual (string, float64, bool, nil); string for the string forms
	not   []condition // anything-but: what must not match
	nums  []numericOp // numeric: all must hold
	exist bool
}

type numericOp struct {
	op string
	v  float64
}

// Parse reads one pattern.
func Parse(src string) (*Pattern, error) {
	if len(src) > MaxPatternBytes {
		return nil, ErrInvalid
	}
	dec := json.NewDecoder(strings.NewReader(src))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		return nil, ErrInvalid
	}
	obj, ok := v.(map[string]any)
	if !ok || len(obj) == 0 {
		return nil, ErrInvalid
	}
	return parseObject(obj, 0)
}

func parseObject(obj map[string]any, depth int) (*Pattern, error) {
	if depth > 32 || len(obj) == 0 {
		return nil, ErrInvalid
	}
	p := &Pattern{}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys) // deterministic, so equal patterns behave alike
	for _, k := range keys {
		v := obj[k]
		if k == "$or" {
			alts, ok := v.([]any)
			if !ok || len(alts) < 2 {
				return nil, ErrInvalid
			}
			for _, a := range alts {
				ao, ok := a.(map[string]any)
				if !ok {
					return nil, ErrInvalid
				}
				sub, err := parseObject(ao, depth+1)
				if err != nil {
					return nil, err
				}
				if len(sub.or) > 0 {
					// Flatten: an alternative with its own $or is a pattern of patterns;
					// keep it nested as one field with no key.
					p.or = append(p.or, []field{{nested: sub}})
					continue
				}
				p.or = append(p.or, sub.fields)
			}
			continue
		}
		switch x := v.(type) {
		case map[string]any:
			sub, err := parseObject(x, depth+1)
			if err != nil {
				return nil, err
			}
			p.fields = append(p.fields, field{key: k, nested: sub})
		case []any:
			conds, err := parseConditions(x)
			if err != nil {
				return nil, err
			}
			p.fields = append(p.fields, field{key: k, conds: conds})
		default:
			return nil, ErrInvalid
		}
	}
	return p, nil
}

func parseConditions(arr []any) ([]condition, error) {
	if len(arr) == 0 {
		return nil, ErrInvalid
	}
	out := make([]condition, 0, len(arr))
	for _, a := range arr {
		c, err := parseCondition(a)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

func literal(v any) (any, bool) {
	switch x := v.(type) {
	case string, bool, nil:
		return x, true
	case json.Number:
		f, err := x.Float64()
		if err != nil || math.IsInf(f, 0) {
			return nil, false
		}
		return f, true
	}
	return nil, false
}

func parseCondition(a any) (condition, error) {
	if lit, ok := literal(a); ok {
		return condition{kind: condEqual, value: lit}, nil
	}
	obj, ok := a.(map[string]any)
	if !ok || len(obj) != 1 {
		return condition{}, ErrInvalid
	}
	for op, v := range obj {
		switch op {
		case "prefix", "suffix", "equals-ignore-case", "wildcard":
			s, ok := v.(string)
			if !ok {
				return condition{}, ErrInvalid
			}
			kind := map[string]condKind{"prefix": condPrefix, "suffix": condSuffix, "equals-ignore-case": condEqualsIgnoreCase, "wildcard": condWildcard}[op]
			return condition{kind: kind, value: s}, nil
		case "exists":
			b, ok := v.(bool)
			if !ok {
				return condition{}, ErrInvalid
			}
			return condition{kind: condExists, exist: b}, nil
		case "numeric":
			arr, ok := v.([]any)
			if !ok || len(arr) == 0 || len(arr)%2 != 0 || len(arr) > 4 {
				return condition{}, ErrInvalid
			}
			c := condition{kind: condNumeric}
			for i := 0; i < len(arr); i += 2 {
				opName, ok := arr[i].(string)
				if !ok {
					return condition{}, ErrInvalid
				}
				switch opName {
				case "=", "<", "<=", ">", ">=":
				default:
					return condition{}, ErrInvalid
				}
				n, ok := arr[i+1].(json.Number)
				if !ok {
					return condition{}, ErrInvalid
				}
				f, err := n.Float64()
				if err != nil {
					return condition{}, ErrInvalid
				}
				c.nums = append(c.nums, numericOp{opName, f})
			}
			return c, nil
		case "anything-but":
			c := condition{kind: condAnythingBut}
			switch x := v.(type) {
			case []any:
				if len(x) == 0 {
					return condition{}, ErrInvalid
				}
				for _, e := range x {
					lit, ok := literal(e)
					if !ok {
						return condition{}, ErrInvalid
					}
					c.not = append(c.not, condition{kind: condEqual, value: lit})
				}
			case map[string]any:
				inner, err := parseCondition(x)
				if err != nil {
					return condition{}, err
				}
				switch inner.kind {
				case condPrefix, condSuffix, condEqualsIgnoreCase, condWildcard:
				default:
					return condition{}, ErrInvalid
				}
				c.not = []condition{inner}
			default:
				lit, ok := literal(x)
				if !ok {
					return condition{}, ErrInvalid
				}
				c.not = []condition{{kind: condEqual, value: lit}}
			}
			return c, nil
		}
	}
	return condition{}, ErrInvalid
}

// Match reports whether the event (decoded JSON: maps, slices, float64, string,
// bool, nil) matches the pattern.
func (p *Pattern) Match(event map[string]any) bool {
	if !matchFields(p.fields, event) {
		return false
	}
	if len(p.or) == 0 {
		return true
	}
	for _, alt := range p.or {
		if matchFields(alt, event) {
			return true
		}
	}
	return false
}

func matchFields(fields []field, event map[string]any) bool {
	for i := range fields {
		f := &fields[i]
		if f.key == "" && f.nested != nil { // a nested $or alternative
			if !f.nested.Match(event) {
				return false
			}
			continue
		}
		v, present := event[f.key]
		if f.nested != nil {
			if !present || !matchNested(f.nested, v) {
				return false
			}
			continue
		}
		if !matchConditions(f.conds, v, present) {
			return false
		}
	}
	return true
}

func matchNested(p *Pattern, v any) bool {
	switch x := v.(type) {
	case map[string]any:
		return p.Match(x)
	case []any:
		for _, e := range x {
			if m, ok := e.(map[string]any); ok && p.Match(m) {
				return true
			}
		}
	}
	return false
}

func matchConditions(conds []condition, v any, present bool) bool {
	for i := range conds {
		c := &conds[i]
		if c.kind == condExists {
			// exists reaches leaves only: an object is not a value of its own.
			_, isObj := v.(map[string]any)
			if c.exist == (present && !isObj) {
				return true
			}
			continue
		}
		if !present {
			continue
		}
		if arr, ok := v.([]any); ok {
			if c.kind == condAnythingBut {
				// Every element must avoid the excluded values.
				all := len(arr) > 0
				for _, e := range arr {
					if !c.matchOne(e) {
						all = false
						break
					}
				}
				if all {
					return true
				}
				continue
			}
			for _, e := range arr {
				if c.matchOne(e) {
					return true
				}
			}
			continue
		}
		if c.matchOne(v) {
			return true
		}
	}
	return false
}

func (c *condition) matchOne(v any) bool {
	switch c.kind {
	case condEqual:
		switch want := c.value.(type) {
		case nil:
			return v == nil
		case float64:
			got, ok := v.(float64)
			return ok && got == want
		default:
			return v == c.value
		}
	case condPrefix:
		s, ok := v.(string)
		return ok && strings.HasPrefix(s, c.value.(string))
	case condSuffix:
		s, ok := v.(string)
		return ok && strings.HasSuffix(s, c.value.(string))
	case condEqualsIgnoreCase:
		s, ok := v.(string)
		return ok && strings.EqualFold(s, c.value.(string))
	case condWildcard:
		s, ok := v.(string)
		return ok && wildcard(c.value.(string), s)
	case condNumeric:
		f, ok := v.(float64)
		if !ok {
			return false
		}
		for _, n := range c.nums {
			var hold bool
			switch n.op {
			case "=":
				hold = f == n.v
			case "<":
				hold = f < n.v
			case "<=":
				hold = f <= n.v
			case ">":
				hold = f > n.v
			case ">=":
				hold = f >= n.v
			}
			if !hold {
				return false
			}
		}
		return true
	case condAnythingBut:
		for i := range c.not {
			if c.not[i].matchOne(v) {
				return false
			}
		}
		return true
	}
	return false
}

// wildcard matches s against a pattern where * stands for any run of characters.
func wildcard(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return s == pattern
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for _, mid := range parts[1 : len(parts)-1] {
		i := strings.Index(s, mid)
		if i < 0 {
			return false
		}
		s = s[i+len(mid):]
	}
	return strings.HasSuffix(s, parts[len(parts)-1])
}

// Decode reads JSON for matching: numbers as float64, as the patterns hold them.
func Decode(b []byte) (any, bool) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&v); err != nil || dec.More() {
		return nil, false
	}
	return v, true
}
