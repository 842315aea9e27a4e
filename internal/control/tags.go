package control

import (
	"context"
	"maps"
	"regexp"
	"strings"

	"github.com/hearthfn/hearth/internal/errdefs"
)

// Tags belong to a function as a whole; Lambda takes them by unqualified function ARN.
var reTaggable = regexp.MustCompile(`^arn:(aws[a-zA-Z-]*):lambda:[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:\d{12}:(function:[a-zA-Z0-9-_]+(:(\$LATEST|[a-zA-Z0-9-_]+))?|code-signing-config:csc-[a-z0-9]{17}|event-source-mapping:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|capacity-provider:[a-zA-Z0-9-_]+)$`)

func (s *Service) taggable(resource string) (string, error) {
	if len(resource) > 256 || !reTaggable.MatchString(resource) {
		return "", validationError(resource, "resource", `Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*):lambda:[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:\d{12}:(function:[a-zA-Z0-9-_]+(:(\$LATEST|[a-zA-Z0-9-_]+))?|code-signing-config:csc-[a-z0-9]{17}|event-source-mapping:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|capacity-provider:[a-zA-Z0-9-_]+)`)
	}
	if !strings.Contains(resource, ":function:") {
		return "", errdefs.New(errdefs.ErrInvalidParameter, "Hearth keeps tags on functions only; %s is not a function ARN.", resource)
	}
	ref, err := s.ParseFunctionRef("resource", resource)
	if err != nil {
		return "", err
	}
	if ref.Qualifier != "" {
		return "", errdefs.New(errdefs.ErrInvalidParameter, "Tags apply to a function, not to a version or alias; use the unqualified ARN %s.", s.FunctionArn(ref.Name))
	}
	if _, _, err := s.loadFunction(ref.Name); err != nil {
		return "", err
	}
	return ref.Name, nil
}

// TagResource adds or replaces tags.
func (s *Service) TagResource(ctx context.Context, resource string, tags map[string]string) error {
	if len(tags) == 0 {
		return validationError("null", "tags", "Member must not be null")
	}
	if uuid, ok := mappingResource(resource); ok {
		return s.changeMappingTags(ctx, uuid, func(t map[string]string) map[string]string {
			maps.Copy(t, tags)
			return t
		})
	}
	name, err := s.taggable(resource)
	if err != nil {
		return err
	}
	_, err = s.mutateFunction(ctx, name, func(rec *functionRecord) error {
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
	if len(keys) == 0 {
		return validationError("null", "tagKeys", "Member must not be null")
	}
	if uuid, ok := mappingResource(resource); ok {
		return s.changeMappingTags(ctx, uuid, func(t map[string]string) map[string]string {
			for _, k := range keys {
				delete(t, k)
			}
			return t
		})
	}
	name, err := s.taggable(resource)
	if err != nil {
		return err
	}
	_, err = s.mutateFunction(ctx, name, func(rec *functionRecord) error {
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

// ListTags returns a function's tags.
func (s *Service) ListTags(ctx context.Context, resource string) (map[string]string, error) {
	if uuid, ok := mappingResource(resource); ok {
		return s.mappingTags(uuid)
	}
	name, err := s.taggable(resource)
	if err != nil {
		return nil, err
	}
	rec, _, err := s.loadFunction(name)
	if err != nil {
		return nil, err
	}
	if rec.Tags == nil {
		return map[string]string{}, nil
	}
	return rec.Tags, nil
}

// mappingResource returns the UUID of an event source mapping's ARN; tags on
// mappings live in the mapping's record (mappings.go).
func mappingResource(resource string) (string, bool) {
	if len(resource) > 256 || !reTaggable.MatchString(resource) {
		return "", false
	}
	_, uuid, ok := strings.Cut(resource, ":event-source-mapping:")
	return uuid, ok
}
