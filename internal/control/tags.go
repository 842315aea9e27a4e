package control

import (
	"context"
	"maps"
	"regexp"
	"strings"

	"github.com/hearthfn/hearth/internal/errdefs"
)

// The resources Lambda tags, by ARN: functions (unqualified), event source mappings,
// code signing configs, layers and capacity providers. The pattern is the one AWS
// quotes in its ValidationException today (newer than the published model's: it
// admits the eusc- partition's regions and layers).
const taggablePattern = `arn:(aws[a-zA-Z-]*):lambda:(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:\d{12}:(function:[a-zA-Z0-9-_]+(:(\$LATEST|[a-zA-Z0-9-_]+))?|layer:([a-zA-Z0-9-_]+)|code-signing-config:csc-[a-z0-9]{17}|event-source-mapping:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|capacity-provider:[a-zA-Z0-9-_]+)`

var reTaggable = regexp.MustCompile(`^` + taggablePattern + `$`)

// maxTaggableResource is the TaggableResource shape's maximum length.
const maxTaggableResource = 256

// taggable is a parsed TaggableResource: a function's name or a mapping's UUID.
type taggable struct {
	function string
	mapping  string
}

// checkTaggable adds a TaggableResource's violations of the model to errs.
// Every constraint the value breaks is reported, the pattern first (as for names).
func checkTaggable(errs *modelErrors, resource string) {
	if !reTaggable.MatchString(resource) {
		errs.add(resource, "resource", "Member must satisfy regular expression pattern: "+taggablePattern)
	}
	if len(resource) > maxTaggableResource {
		errs.add(resource, "resource", "Member must have length less than or equal to 256")
	}
}

// resolveTaggable finds the resource a well-formed TaggableResource names. A
// function's version or alias is refused before Lambda looks the function up.
func (s *Service) resolveTaggable(resource string) (taggable, error) {
	_, rest, _ := strings.Cut(resource, ":lambda:")
	parts := strings.SplitN(rest, ":", 4) // region, account, type, id[:qualifier]
	kind, id := parts[2], parts[3]
	switch kind {
	case "function":
		if strings.Contains(id, ":") {
			return taggable{}, errdefs.New(errdefs.ErrInvalidParameter, "Tags on function aliases and versions are not supported. Please specify a function ARN.")
		}
		ref, err := s.ParseFunctionRef("resource", resource)
		if err != nil {
			return taggable{}, err
		}
		if _, _, err := s.loadFunction(ref.Name); err != nil {
			return taggable{}, err
		}
		return taggable{function: ref.Name}, nil
	case "event-source-mapping":
		// mappings.go answers for the mapping's existence.
		return taggable{mapping: id}, nil
	case "capacity-provider":
		// Hearth runs functions on its own hosts: there are no capacity providers.
		return taggable{}, errdefs.New(errdefs.ErrNotFound, "Capacity provider not found: %s", resource)
	case "code-signing-config":
		return taggable{}, errdefs.New(errdefs.ErrNotFound, "Code signing config not found: %s", resource)
	default: // layer
		return taggable{}, errdefs.New(errdefs.ErrNotFound, "Layer not found: %s", resource)
	}
}

// tagLimit refuses more tags than a resource may carry.
func tagLimit(tags map[string]string) error {
	if len(tags) > MaxTags {
		return errdefs.New(errdefs.ErrInvalidParameter, "Number of tags exceeds resource tag limit.")
	}
	return nil
}

// TagResource adds or replaces tags.
func (s *Service) TagResource(ctx context.Context, resource string, tags map[string]string) error {
	var errs modelErrors
	checkTaggable(&errs, resource)
	if tags == nil {
		errs.addNull("tags")
	}
	if err := errs.err(); err != nil {
		return err
	}
	// What Lambda answers an empty Tags map, whatever the resource.
	if len(tags) == 0 {
		return errdefs.New(errdefs.ErrInvalidParameter, "An error occurred and the request cannot be processed.")
	}
	t, err := s.resolveTaggable(resource)
	if err != nil {
		return err
	}
	// The limits apply to the tags the resource would carry, checked where they are
	// written (validateTags, under compare-and-set).
	if t.mapping != "" {
		return s.changeMappingTags(ctx, t.mapping, func(m map[string]string) map[string]string {
			maps.Copy(m, tags)
			return m
		})
	}
	_, err = s.mutateFunction(ctx, t.function, func(rec *functionRecord) error {
		merged := maps.Clone(rec.Tags)
		if merged == nil {
			merged = map[string]string{}
		}
		maps.Copy(merged, tags)
		if err := validateTags(merged); err != nil {
			return err
		}
		rec.Tags = merged
		return nil
	})
	return err
}

// UntagResource removes tags by key; absent keys are ignored, as on Lambda.
func (s *Service) UntagResource(ctx context.Context, resource string, keys []string) error {
	var errs modelErrors
	checkTaggable(&errs, resource)
	if len(keys) == 0 {
		// An empty list is not sent at all: the query has no tagKeys.
		errs.addNull("tagKeys")
	}
	if err := errs.err(); err != nil {
		return err
	}
	t, err := s.resolveTaggable(resource)
	if err != nil {
		return err
	}
	if t.mapping != "" {
		return s.changeMappingTags(ctx, t.mapping, func(m map[string]string) map[string]string {
			for _, k := range keys {
				delete(m, k)
			}
			return m
		})
	}
	_, err = s.mutateFunction(ctx, t.function, func(rec *functionRecord) error {
		rec.Tags = maps.Clone(rec.Tags)
		for _, k := range keys {
			delete(rec.Tags, k)
		}
		if len(rec.Tags) == 0 {
			rec.Tags = nil
		}
		return nil
	})
	return err
}

// ListTags returns a resource's tags.
func (s *Service) ListTags(ctx context.Context, resource string) (map[string]string, error) {
	var errs modelErrors
	checkTaggable(&errs, resource)
	if err := errs.err(); err != nil {
		return nil, err
	}
	t, err := s.resolveTaggable(resource)
	if err != nil {
		return nil, err
	}
	if t.mapping != "" {
		return s.mappingTags(t.mapping)
	}
	rec, _, err := s.loadFunction(t.function)
	if err != nil {
		return nil, err
	}
	if rec.Tags == nil {
		return map[string]string{}, nil
	}
	return rec.Tags, nil
}
