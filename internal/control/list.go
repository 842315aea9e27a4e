package control

import (
	"context"
	"strings"
)

// ListFunctions lists every function's $LATEST, or with functionVersion "ALL" every
// version of every function, sorted by name (and version).
func (s *Service) ListFunctions(ctx context.Context, functionVersion, marker string, maxItems int) (*ListFunctionsOutput, error) {
	if functionVersion != "" && functionVersion != "ALL" {
		var errs modelErrors
		checkEnum(&errs, functionVersion, "functionVersion", "ALL")
		return nil, errs.err()
	}
	var all []*FunctionConfiguration
	for _, name := range s.st.Functions.Keys("") {
		rec, _, err := s.loadFunction(name)
		if err != nil {
			continue // deleted since Keys
		}
		all = append(all, s.render(name, &rec.Latest))
		if functionVersion == "ALL" {
			all = append(all, s.versionsOf(rec)...)
		}
	}
	key := func(c *FunctionConfiguration) string { return c.FunctionName + ":" + c.Version }
	less := func(a, b string) bool {
		an, av, _ := strings.Cut(a, ":")
		bn, bv, _ := strings.Cut(b, ":")
		if an != bn {
			return an < bn
		}
		return lessKey(av, bv)
	}
	page, next, err := paginate(all, marker, maxItems, key, less)
	if err != nil {
		return nil, err
	}
	if page == nil {
		page = []*FunctionConfiguration{}
	}
	return &ListFunctionsOutput{Functions: page, NextMarker: next}, nil
}

// MaxListItems is the model's bound on the MaxItems of ListFunctions,
// ListVersionsByFunction and ListAliases (MaxListItems: 1 to 10000).
const MaxListItems = 10000
