package control

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/hearthfn/hearth/internal/errdefs"
)

// PublishVersion publishes $LATEST as a new version, unless nothing changed since the
// last one, in which case Lambda (and Hearth) return that version.
func (s *Service) PublishVersion(ctx context.Context, in *PublishVersionInput) (*FunctionConfiguration, error) {
	var errs modelErrors
	ref, err := s.parseRef(shapeFunctionName, "functionName", in.FunctionName, &errs)
	if in.Description != nil {
		checkMaxLength(&errs, *in.Description, "description", MaxDescription)
	}
	if e := errs.err(); e != nil {
		return nil, e
	}
	if err != nil {
		return nil, err
	}
	if ref.Qualifier != "" {
		return nil, errdefs.New(errdefs.ErrInvalidParameter, "PublishVersion publishes $LATEST; remove the qualifier %q from the function name.", ref.Qualifier)
	}
	if len(in.PublishTo) > 0 && string(in.PublishTo) != "null" {
		return nil, errdefs.New(errdefs.ErrInvalidParameter, "Hearth does not support PublishTo yet; remove it from the request.")
	}
	return s.publish(ctx, ref.Name, in)
}

func (s *Service) publish(ctx context.Context, name string, in *PublishVersionInput) (*FunctionConfiguration, error) {
	var (
		published versionConfig
		existing  *versionConfig
	)
	rec, err := s.mutateFunction(ctx, name, func(rec *functionRecord) error {
		existing = nil
		if in.RevisionId != "" && in.RevisionId != rec.Latest.RevisionId {
			return revisionMismatch()
		}
		if in.CodeSha256 != "" && in.CodeSha256 != rec.Latest.CodeSha256 {
			return errdefs.New(errdefs.ErrInvalidParameter, "CodeSHA256 (%s) is different from current CodeSHA256 in $LATEST (%s). Please try again with the CodeSHA256 in $LATEST.", in.CodeSha256, rec.Latest.CodeSha256)
		}
		hash := rec.Latest.configHash()
		if rec.LastVersion > 0 && rec.PublishedHash == hash {
			// Nothing changed. The version may still be in flight (a concurrent publish
			// between reserving the number and writing it); wait for it. Only when it
			// never appears did a crash lose it, and then this publish makes it anew.
			if v := s.awaitVersion(ctx, rec, rec.LastVersion); v != nil {
				existing = v
				return errUnchanged
			}
		}
		rec.LastVersion++
		rec.PublishedHash = hash
		published = rec.Latest
		published.Version = strconv.Itoa(rec.LastVersion)
		published.LastModified = s.now()
		published.RevisionId = newID()
		if in.Description != nil {
			published.Description = *in.Description
		}
		return nil
	})
	if err == errUnchanged {
		return s.render(name, existing), nil
	}
	if err != nil {
		return nil, err
	}
	b, _ := json.Marshal(&published)
	if _, err := s.st.Versions.Put(ctx, versionKey(name, rec.Gen, rec.LastVersion), b); err != nil {
		return nil, storeError(err)
	}
	return s.render(name, &published), nil
}

// awaitVersion returns version n, waiting briefly for a publish in flight to write it.
func (s *Service) awaitVersion(ctx context.Context, rec *functionRecord, n int) *versionConfig {
	deadline := time.Now().Add(versionWriteGrace)
	for {
		if v, err := s.loadVersion(rec, n); err == nil {
			return v
		}
		if e, ok, _ := s.st.Versions.Fresh(ctx, versionKey(rec.Name, rec.Gen, n)); ok {
			var v versionConfig
			if json.Unmarshal(e.Value, &v) == nil {
				return &v
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// versionWriteGrace bounds how long a publish in flight may take between reserving a
// version number and writing the version; past it, the number was lost to a crash.
const versionWriteGrace = 3 * time.Second

// errUnchanged stops a mutation that turned out to be unnecessary.
var errUnchanged = errdefs.New(errdefs.ErrConflict, "unchanged")

// ListVersionsByFunction lists $LATEST and the published versions, oldest first.
func (s *Service) ListVersionsByFunction(ctx context.Context, functionName, marker string, maxItems int) (*ListVersionsOutput, error) {
	ref, err := s.ParseNamespacedFunctionRef("functionName", functionName)
	if err != nil {
		return nil, err
	}
	if ref.Qualifier != "" {
		return nil, errdefs.New(errdefs.ErrInvalidParameter, "ListVersionsByFunction takes an unqualified function name, not %q.", functionName)
	}
	rec, _, err := s.loadFunction(ref.Name)
	if err != nil {
		return nil, err
	}
	all := append([]*FunctionConfiguration{s.renderArn(rec.Name, &rec.Latest, true)}, s.versionsOf(rec)...)
	page, next, err := paginate(all, marker, maxItems, func(c *FunctionConfiguration) string { return c.Version }, lessKey)
	if err != nil {
		return nil, err
	}
	return &ListVersionsOutput{Versions: page, NextMarker: next}, nil
}

// versionsOf renders a function's published versions in order.
func (s *Service) versionsOf(rec *functionRecord) []*FunctionConfiguration {
	var out []*FunctionConfiguration
	for _, k := range s.st.Versions.Keys(versionPrefix(rec.Name, rec.Gen)) {
		n, err := strconv.Atoi(strings.TrimPrefix(k, versionPrefix(rec.Name, rec.Gen)))
		if err != nil || n > rec.LastVersion {
			continue // not acknowledged: written by a publish that lost its reservation
		}
		if v, err := s.loadVersion(rec, n); err == nil {
			out = append(out, s.render(rec.Name, v))
		}
	}
	return out
}

// paginate returns the page that follows the item a marker names. Markers are the
// opaque-looking key of the last item returned; when that item is gone by the next
// call, the page starts at the first item ordered after it.
func paginate[T any](items []T, marker string, maxItems int, key func(T) string, less func(a, b string) bool) ([]T, string, error) {
	if maxItems <= 0 {
		maxItems = 50
	}
	start := 0
	if marker != "" {
		raw, err := base64.RawURLEncoding.DecodeString(marker)
		if err != nil {
			return nil, "", errdefs.New(errdefs.ErrInvalidParameter, "The Marker %q is not one Hearth issued; pass the NextMarker of the previous page.", marker)
		}
		after := string(raw)
		start = len(items)
		for i, it := range items {
			if less(after, key(it)) {
				start = i
				break
			}
		}
	}
	end := start + maxItems
	if end >= len(items) {
		return items[start:], "", nil
	}
	return items[start:end], base64.RawURLEncoding.EncodeToString([]byte(key(items[end-1]))), nil
}

// lessKey orders version keys numerically ("$LATEST" first) and other keys as strings.
func lessKey(a, b string) bool {
	an, aerr := strconv.Atoi(a)
	bn, berr := strconv.Atoi(b)
	switch {
	case a == Latest:
		return b != Latest
	case b == Latest:
		return false
	case aerr == nil && berr == nil:
		return an < bn
	}
	return a < b
}
