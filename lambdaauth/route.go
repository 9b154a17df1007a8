package lambdaauth

import (
	"errors"
	"fmt"
	"strings"

	"github.com/gatehouse-dev/gatehouse/authz"
)

// Route is one route of an API that an Authorizer protects: a method and an
// API Gateway resource path, and what a request to it asks of policy.
type Route struct {
	// Method is the HTTP method in upper case; "" or "ANY" means every
	// method.
	Method string
	// Path is the resource path as API Gateway declares it, from "/":
	// literal segments, "{name}" for one path parameter, and a last
	// "{name+}" (or gatehouse's "{name...}") for the rest of the path.
	Path string
	// Action is what a request asks; "" means authz.ActionInvoke.
	Action string
	// Resource is what it asks it of, such as the function the route's
	// integration invokes; required.
	Resource authz.Resource
	// Role, when set, is the only role the route may be granted.
	Role string
}

// route is a Route checked and split into segments.
type route struct {
	Route
	id      string   // "METHOD /path" as declared, for the audit trail
	segs    []string // literal segments; "" for a parameter
	greedy  bool     // the last segment takes the rest of the path
	arnPath string   // the path as an execute-api ARN resource: parameters as "*"
}

func compileRoutes(rs []Route) ([]*route, error) {
	var out []*route
	var errs []error
	seen := map[string]bool{}
	for i, r := range rs {
		c, err := compileRoute(r)
		if err != nil {
			errs = append(errs, fmt.Errorf("lambdaauth: routes[%d]: %w", i, err))
			continue
		}
		key := c.Method + " " + c.arnPath
		if c.greedy {
			key += "+"
		}
		if seen[key] {
			errs = append(errs, fmt.Errorf("lambdaauth: routes[%d]: %s is declared twice", i, c.id))
		}
		seen[key] = true
		out = append(out, c)
	}
	return out, errors.Join(errs...)
}

func compileRoute(r Route) (*route, error) {
	c := &route{Route: r}
	c.Method = strings.ToUpper(r.Method)
	if c.Method == "ANY" || c.Method == "*" {
		c.Method = ""
	}
	for _, ch := range c.Method {
		if ch < 'A' || ch > 'Z' {
			return nil, fmt.Errorf("method %q: want an HTTP method such as GET, or ANY", r.Method)
		}
	}
	if c.Action == "" {
		c.Action = authz.ActionInvoke
	}
	if r.Resource.Kind == "" || r.Resource.Name == "" {
		return nil, fmt.Errorf("%s %s: no resource", r.Method, r.Path)
	}
	if !strings.HasPrefix(r.Path, "/") {
		return nil, fmt.Errorf("path %q: want a path from /", r.Path)
	}
	var arn []string
	if r.Path != "/" {
		parts := strings.Split(r.Path[1:], "/")
		for i, s := range parts {
			switch {
			case s == "":
				return nil, fmt.Errorf("path %q: empty segment", r.Path)
			case strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}"):
				name := s[1 : len(s)-1]
				greedy := false
				if n, ok := strings.CutSuffix(name, "+"); ok {
					name, greedy = n, true
				} else if n, ok := strings.CutSuffix(name, "..."); ok {
					name, greedy = n, true
				}
				if !validParam(name) {
					return nil, fmt.Errorf("path %q: bad parameter %q", r.Path, s)
				}
				if greedy && i != len(parts)-1 {
					return nil, fmt.Errorf("path %q: %s must be the last segment", r.Path, s)
				}
				c.segs = append(c.segs, "")
				c.greedy = greedy
				arn = append(arn, "*")
			case strings.ContainsAny(s, "{}*?"):
				return nil, fmt.Errorf("path %q: segment %q mixes a parameter with text", r.Path, s)
			default:
				c.segs = append(c.segs, s)
				arn = append(arn, s)
			}
		}
	}
	c.arnPath = strings.Join(arn, "/")
	m := c.Method
	if m == "" {
		m = "ANY"
	}
	c.id = m + " " + r.Path
	return c, nil
}

func validParam(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c == '_' || c == '-' || c == '.' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// arnMethod is the method part of the route's execute-api ARNs.
func (r *route) arnMethod() string {
	if r.Method == "" {
		return "*"
	}
	return r.Method
}

func (r *route) methodMatches(method string) bool {
	return r.Method == "" || r.Method == strings.ToUpper(method)
}

// matchTemplate finds the route declared as method and path template (what
// REQUEST authorizers and HTTP API route keys name), parameter names aside.
func matchTemplate(routes []*route, method, template string) *route {
	want, err := compileRoute(Route{Method: method, Path: template, Resource: authz.Resource{Kind: "-", Name: "-"}})
	if err != nil {
		return nil
	}
	var anyMethod *route
	for _, r := range routes {
		if r.arnPath != want.arnPath || r.greedy != want.greedy {
			continue
		}
		if r.Method != "" && r.Method == want.Method {
			return r
		}
		if r.Method == "" && anyMethod == nil {
			anyMethod = r
		}
	}
	return anyMethod
}

// matchPath finds the route a concrete request path belongs to, preferring
// (as API Gateway does) literal segments over parameters over a greedy
// parameter, and a route of the method over an ANY route.
func matchPath(routes []*route, method, path string) *route {
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	var segs []string
	if path != "/" {
		segs = strings.Split(path[1:], "/")
	}
	var best *route
	bestScore := -1
	for _, r := range routes {
		if !r.methodMatches(method) {
			continue
		}
		score, ok := r.matchSegments(segs)
		if !ok {
			continue
		}
		score *= 2
		if r.Method != "" {
			score++
		}
		if score > bestScore {
			best, bestScore = r, score
		}
	}
	return best
}

// matchSegments reports whether segs fit the route, with a specificity
// score: 3 per literal, 2 per parameter, 1 for a greedy tail.
func (r *route) matchSegments(segs []string) (int, bool) {
	score := 0
	for i, lit := range r.segs {
		last := i == len(r.segs)-1
		if r.greedy && last {
			if len(segs) <= i || segs[i] == "" {
				return 0, false
			}
			return score + 1, true
		}
		if i >= len(segs) || segs[i] == "" {
			return 0, false
		}
		switch {
		case lit == "":
			score += 2
		case lit == segs[i]:
			score += 3
		default:
			return 0, false
		}
	}
	if len(segs) != len(r.segs) {
		return 0, false
	}
	return score, true
}
