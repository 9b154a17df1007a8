package authz

import (
	"fmt"
	"strings"
)

// ParseResource reads a resource as people write it on a command line or
// in a policy test file: "function:NAME", "route:ID", or a bare NAME, which
// is a function. It checks the form only, not that the function or route
// exists.
func ParseResource(s string) (Resource, error) {
	kind, name, ok := strings.Cut(s, ":")
	if !ok {
		kind, name = ResourceFunction, s
	}
	switch kind {
	case ResourceFunction, ResourceRoute:
	default:
		return Resource{}, fmt.Errorf("resource %q: want function:NAME or route:ID", s)
	}
	if name == "" {
		return Resource{}, fmt.Errorf("resource %q has no name", s)
	}
	return Resource{Kind: kind, Name: name}, nil
}
