package gateway

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"gatehouse/audit"
	"gatehouse/authn"
	"gatehouse/authz"
	"gatehouse/creds"
	"gatehouse/invoke"
)

// Verifier is step 1 (authn.Verifier).
type Verifier interface {
	Verify(ctx context.Context, raw string) (*authn.Principal, error)
	Ready() bool
}

// Policy is step 2 (authz.Engine).
type Policy interface {
	Decide(p *authn.Principal, r authz.Request) authz.Decision
}

// Broker is step 3 (creds.Broker).
type Broker interface {
	Credentials(ctx context.Context, req creds.Request) (*creds.Session, error)
}

// Recorder is step 5 (audit.Recorder).
type Recorder interface {
	Record(ctx context.Context, ev *audit.Event) error
}

// Route maps requests to a target and says what they ask of policy.
type Route struct {
	// ID names the route in the audit trail and in invoke's routeKey.
	ID string
	// Method is the HTTP method, "" for any.
	Method string
	// Path is a net/http ServeMux path pattern, such as "/reports/{id}".
	Path string
	// Target is step 4; TargetName names it in the audit trail.
	Target     invoke.Target
	TargetName string
	// Action and Resource are what the request asks of policy.
	Action   string
	Resource authz.Resource
	// Role, when set, is the only role the request may run under.
	Role string
	// SessionPolicy narrows the role's credentials to this target (for a
	// function, creds.InvokePolicy(its ARN)); "" for none.
	SessionPolicy string
}

// Config configures a Gateway. Every part is required.
type Config struct {
	Routes   []Route
	Verifier Verifier
	Policy   Policy
	Broker   Broker
	Recorder Recorder
	// Pseudonym names a principal in the audit trail (a keyed pseudonym,
	// never the subject in clear).
	Pseudonym func(tenant, subject string) string
	// Metadata is the RFC 9728 protected-resource metadata served at
	// /.well-known/oauth-protected-resource and named in WWW-Authenticate.
	Metadata ResourceMetadata
	// ClaimsAllowed are the token claims stored in audit events
	// (audit.SanitizeClaims keeps personal ones out whatever it says).
	ClaimsAllowed []string
	// Metrics, when set, are updated per request and served at /metrics.
	Metrics *Metrics
	// MaxResponseBytes bounds a buffered target response; 0 means 7 MiB.
	MaxResponseBytes int
	Logger           *slog.Logger
	Now              func() time.Time
}

// ResourceMetadata is the RFC 9728 document: which issuers and scopes this
// resource wants, so OAuth clients and agents can discover them.
type ResourceMetadata struct {
	Resource             string   `json:"resource"`
	AuthorizationServers []string `json:"authorization_servers,omitempty"`
	ScopesSupported      []string `json:"scopes_supported,omitempty"`
	BearerMethods        []string `json:"bearer_methods_supported"`
	ResourceName         string   `json:"resource_name,omitempty"`
}

const metadataPath = "/.well-known/oauth-protected-resource"

// Gateway is the HTTP entry point.
type Gateway struct {
	cfg     Config
	mux     *http.ServeMux
	log     *slog.Logger
	now     func() time.Time
	maxResp int
}

// New checks cfg and builds the routing table. A route whose protection
// cannot be honoured (no target, no action, no resource) is refused: the
// gateway never serves a route unprotected by accident.
func New(cfg Config) (*Gateway, error) {
	if cfg.Verifier == nil || cfg.Policy == nil || cfg.Broker == nil || cfg.Recorder == nil || cfg.Pseudonym == nil {
		return nil, errors.New("gateway: verifier, policy, broker, recorder and pseudonym are all required")
	}
	g := &Gateway{cfg: cfg, mux: http.NewServeMux(), log: cfg.Logger, now: cfg.Now, maxResp: cfg.MaxResponseBytes}
	if g.log == nil {
		g.log = slog.Default()
	}
	if g.now == nil {
		g.now = time.Now
	}
	if g.maxResp == 0 {
		g.maxResp = 7 << 20
	}
	if g.cfg.Metadata.BearerMethods == nil {
		g.cfg.Metadata.BearerMethods = []string{"header"}
	}
	var errs []error
	seen := map[string]bool{}
	for i := range cfg.Routes {
		rt := cfg.Routes[i]
		switch {
		case rt.ID == "" || seen[rt.ID]:
			errs = append(errs, fmt.Errorf("gateway: route %d: missing or duplicate id %q", i, rt.ID))
			continue
		case rt.Target == nil || rt.Action == "" || rt.Resource.Name == "" || rt.Path == "" || rt.Path[0] != '/':
			errs = append(errs, fmt.Errorf("gateway: route %s: needs a path, a target, an action and a resource", rt.ID))
			continue
		}
		seen[rt.ID] = true
		pattern := rt.Path
		if rt.Method != "" {
			pattern = rt.Method + " " + rt.Path
		}
		if err := register(g.mux, pattern, g.routeHandler(&cfg.Routes[i])); err != nil {
			errs = append(errs, fmt.Errorf("gateway: route %s: %w", rt.ID, err))
		}
	}
	return g, errors.Join(errs...)
}

// register adds a pattern, turning ServeMux's panics on bad or conflicting
// patterns into errors.
func register(mux *http.ServeMux, pattern string, h http.Handler) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("pattern %q: %v", pattern, r)
		}
	}()
	mux.Handle(pattern, h)
	return nil
}

// Handler serves the routes, the protected-resource metadata and health
// checks. Paths are checked for canonical form before any routing.
func (g *Gateway) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqID := newRequestID()
		w.Header().Set("X-Request-Id", reqID)
		path, ok := canonicalPath(r.URL.EscapedPath())
		if !ok {
			writeJSONError(w, http.StatusBadRequest, "invalid_request", "the request path is not in canonical form", reqID)
			return
		}
		switch path {
		case metadataPath:
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(g.cfg.Metadata)
			return
		case "/healthz":
			w.Write([]byte("ok\n"))
			return
		case "/metrics":
			if g.cfg.Metrics == nil {
				writeJSONError(w, http.StatusNotFound, "not_found", "no route", reqID)
				return
			}
			g.cfg.Metrics.handler().ServeHTTP(w, r)
			return
		case "/readyz":
			if !g.cfg.Verifier.Ready() {
				http.Error(w, "issuer keys not loaded", http.StatusServiceUnavailable)
				return
			}
			w.Write([]byte("ok\n"))
			return
		}
		h, pattern := g.mux.Handler(r)
		if pattern == "" {
			writeJSONError(w, http.StatusNotFound, "not_found", "no route", reqID)
			return
		}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey{}, reqID)))
	})
}

type requestIDKey struct{}

func newRequestID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// routeHandler runs the pipeline for one route and records the event
// before the buffered response leaves.
func (g *Gateway) routeHandler(rt *Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := g.now()
		reqID, _ := r.Context().Value(requestIDKey{}).(string)
		ev := &audit.Event{
			Time: start, RequestID: reqID, Route: rt.ID, Action: rt.Action,
			Resource: rt.Resource.Kind + ":" + rt.Resource.Name, Target: rt.TargetName,
		}
		buf := newBufferedWriter(g.maxResp)
		err := g.run(buf, r, rt, ev, reqID)
		if err != nil {
			buf.reset()
			ev.Status = g.writeError(buf, r, err, reqID, ev)
		} else {
			ev.Status = buf.status()
			ev.Decision = audit.DecisionAllow
		}
		if ev.Decision == "" {
			ev.Decision = audit.DecisionError
		}
		ev.LatencyMicros = g.now().Sub(start).Microseconds()
		if err := g.cfg.Recorder.Record(context.WithoutCancel(r.Context()), ev); err != nil {
			g.cfg.Metrics.observe(rt.ID, http.StatusServiceUnavailable, audit.DecisionError, g.now().Sub(start))
			// The trail could not take the event: refuse rather than answer
			// without a record (fail closed).
			g.log.Error("gateway: audit record failed; refusing the request", "request_id", reqID, "err", err)
			w.Header().Set("Retry-After", "5")
			writeJSONError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "the audit trail is unavailable", reqID)
			return
		}
		buf.flushTo(w)
		g.cfg.Metrics.observe(rt.ID, ev.Status, ev.Decision, g.now().Sub(start))
	})
}

// run is the pipeline: each step returns its result or an error.
func (g *Gateway) run(w http.ResponseWriter, r *http.Request, rt *Route, ev *audit.Event, reqID string) error {
	raw, err := authn.BearerToken(r) // 1 authn
	if err != nil {
		return err
	}
	p, err := g.cfg.Verifier.Verify(r.Context(), string(raw))
	if err != nil {
		return err
	}
	g.describe(ev, p)
	d := g.cfg.Policy.Decide(p, authz.Request{ // 2 authz
		Action: rt.Action, Resource: rt.Resource, Role: rt.Role,
		Method: r.Method, Path: r.URL.Path, SourceIP: clientIP(r), Time: ev.Time,
	})
	ev.Policies, ev.Role = d.Policies, d.Role
	if !d.Allow {
		ev.Decision = audit.DecisionDeny
		return d.Err()
	}
	ev.Decision = audit.DecisionAllow
	s, err := g.cfg.Broker.Credentials(r.Context(), creds.Request{ // 3 creds
		Principal: p, Role: d.Role, Token: string(raw), SessionPolicy: rt.SessionPolicy,
	})
	if err != nil {
		return err
	}
	ev.STSSession = s.SessionName
	out, err := rt.Target.Invoke(r.Context(), w, r, invoke.Call{ // 4 invoke
		Principal: p, Credentials: s.Credentials, Role: d.Role, RoleSession: s.AssumedRoleARN,
		Policies: d.Policies, RequestID: reqID, RouteKey: routeKey(rt), RawPath: r.URL.Path,
		PathParameters: pathParams(r, rt.Path),
	})
	if out != nil {
		ev.TargetRequestID = out.TargetRequestID
	}
	return err
} // 5 audit: routeHandler records ev once, whatever run returned

func (g *Gateway) describe(ev *audit.Event, p *authn.Principal) {
	ev.Tenant = p.Tenant
	ev.Principal = g.cfg.Pseudonym(p.Tenant, p.Subject)
	ev.PrincipalKind = string(p.Kind)
	ev.App = p.App
	if len(g.cfg.ClaimsAllowed) > 0 {
		ev.Claims = audit.SanitizeClaims(p.Claims, g.cfg.ClaimsAllowed)
	}
	for _, a := range p.Actors {
		ag := audit.Agent{App: a.App, Via: a.Via}
		if a.App == "" {
			ag.Subject = g.cfg.Pseudonym(p.Tenant, a.Subject)
		} else {
			ag.Subject = a.App
		}
		ev.Agents = append(ev.Agents, ag)
	}
}

func routeKey(rt *Route) string {
	if rt.Method == "" {
		return "ANY " + rt.Path
	}
	return rt.Method + " " + rt.Path
}

// pathParams reads the pattern's wildcards from the matched request.
func pathParams(r *http.Request, pattern string) map[string]string {
	var out map[string]string
	for _, seg := range bytes.Split([]byte(pattern), []byte("/")) {
		if len(seg) > 2 && seg[0] == '{' && seg[len(seg)-1] == '}' {
			name := string(bytes.TrimSuffix(seg[1:len(seg)-1], []byte("...")))
			if out == nil {
				out = map[string]string{}
			}
			out[name] = r.PathValue(name)
		}
	}
	return out
}

// clientIP is the TCP peer; forwarding headers are not trusted here.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
