package control

import (
	"context"
	"encoding/json"
	"strings"
	"time"
)

// CollectGarbage removes what crashes and deletes leave behind: versions and aliases
// of function generations that no longer exist, and code zips that no version uses
// and that are older than grace (a zip younger than that may belong to a
// CreateFunction still in flight, which stores the zip before the function).
func (s *Service) CollectGarbage(ctx context.Context, grace time.Duration) (removed int, err error) {
	live := map[string]string{} // function name → generation
	used := map[string]bool{}
	for _, name := range s.st.Functions.Keys("") {
		rec, _, err := s.loadFunction(name)
		if err != nil {
			continue
		}
		live[name] = rec.Gen
		used[rec.Latest.CodeKey] = true
	}
	for _, t := range []struct {
		keys  []string
		del   func(string) error
		isVer bool
	}{
		{s.st.Versions.Keys(""), func(k string) error { return s.st.Versions.Delete(ctx, k, 0) }, true},
		{s.st.Aliases.Keys(""), func(k string) error { return s.st.Aliases.Delete(ctx, k, 0) }, false},
	} {
		for _, k := range t.keys {
			parts := strings.SplitN(k, ".", 3)
			if len(parts) == 3 && (live[parts[0]] == parts[1] || s.generationLive(ctx, parts[0], parts[1])) {
				if t.isVer {
					if e, ok := s.st.Versions.Get(k); ok {
						used[codeKeyOf(e.Value)] = true
					}
				}
				continue
			}
			if err := t.del(k); err != nil {
				return removed, storeError(err)
			}
			removed++
		}
	}
	// Async settings of generations that are gone (DeleteFunction removes them;
	// a crash between the delete and that leaves them behind).
	for _, k := range s.st.Settings.Keys(asyncKeyPrefix) {
		parts := strings.SplitN(strings.TrimPrefix(k, asyncKeyPrefix), ".", 2)
		if len(parts) == 2 && (live[parts[0]] == parts[1] || s.generationLive(ctx, parts[0], parts[1])) {
			continue
		}
		if err := s.st.Settings.Delete(ctx, k, 0); err != nil {
			return removed, storeError(err)
		}
		removed++
	}
	objs, err := s.st.Code.List(ctx)
	if err != nil {
		return removed, storeError(err)
	}
	for _, o := range objs {
		if used[o.SHA256Hex] || time.Since(o.ModTime) < grace {
			continue
		}
		if err := s.st.Code.Delete(ctx, o.SHA256Hex); err != nil {
			return removed, storeError(err)
		}
		removed++
	}
	return removed, nil
}

// generationLive re-reads a function from JetStream itself: the snapshot taken at
// the start of a collection misses functions created since, whose versions and
// aliases are live, not orphans.
func (s *Service) generationLive(ctx context.Context, name, gen string) bool {
	e, ok, err := s.st.Functions.Fresh(ctx, name)
	if err != nil {
		return true // unsure: keep
	}
	if !ok {
		return false
	}
	rec, _, err := decodeFunction(e)
	return err != nil || rec.Gen == gen
}

// codeKeyOf reads the code key of a stored version.
func codeKeyOf(b []byte) string {
	var v versionConfig
	if json.Unmarshal(b, &v) != nil {
		return ""
	}
	return v.CodeKey
}

// CodeInUse lists the code (hex SHA-256 of each zip) that $LATEST or a published
// version of any function uses, from the watched mirror, and the change stamp it
// was read at: a caller that saw the same stamp before need not ask again.
func (s *Service) CodeInUse() (stamp [3]uint64, used map[string]bool) {
	stamp = s.stamp()
	used = map[string]bool{}
	for _, name := range s.st.Functions.Keys("") {
		if rec, _, err := s.loadFunction(name); err == nil {
			used[rec.Latest.CodeKey] = true
		}
	}
	for _, k := range s.st.Versions.Keys("") {
		if e, ok := s.st.Versions.Get(k); ok {
			used[codeKeyOf(e.Value)] = true
		}
	}
	return stamp, used
}
