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
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
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
	// Host, when set, is the only host the route answers (matched against
	// the request's Host without its port).
	Host string
	// Path is a net/http ServeMux path pattern, such as "/reports/{id}".
	Path string
	// Issuers, when set, are the only issuers (authn IssuerConfig names)
	// whose tokens the route accepts; Audiences, when set, the only `aud`
	// values. Tokens outside them get 401 invalid_token.
	Issuers   []string
	Audiences []string
	// Target is step 4; TargetName names it in the audit trail.
	Target     invoke.Target
	TargetName string
	// Action and Resource are what the request asks of policy. An empty
	// Action means read for GET, HEAD and OPTIONS requests and write for
	// any other method.
	Action   string
	Resource authz.Resource
	// Role, when set, is the only role the request may run under.
	Role string
	// SessionPolicy narrows the role's credentials to this target (for a
	// function, creds.InvokePolicy(its ARN)); "" for none.
	SessionPolicy string
	// NoCredentials skips step 3: the target needs no AWS credentials (an
	// HTTP upstream gets a signed identity assertion instead).
	NoCredentials bool
	// Metadata, when set, is the route's own RFC 9728 document (the
	// issuers and scopes it wants), served at
	// /.well-known/oauth-protected-resource followed by the route's literal
	// path prefix, and named by the route's WWW-Authenticate challenges.
	// Resource and BearerMethods are filled in. nil: the gateway's document.
	Metadata *ResourceMetadata

	metaURL string // the metadata URL its challenges name
	host    string // the host targets are told: Host, else the public URL's (invoke.Call.Host)
}

// streamer is a target whose responses are streamed, not buffered (an HTTP
// upstream: server-sent events, WebSockets). Its audit event is committed
// when the response headers are ready, before the first byte leaves.
type streamer interface{ Streams() bool }

func streams(t invoke.Target) bool {
	s, ok := t.(streamer)
	return ok && s.Streams()
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
	// PublicURL is the gateway's external URL (scheme://host[:port]): the
	// scheme and host targets are told the request was addressed to
	// (X-Forwarded-Proto and -Host, an event's host and domainName) when
	// a route names no host. Never the caller's Host header. "" means
	// targets are told no host.
	PublicURL string
	// Metrics, when set, are updated per request and served by
	// AdminHandler at /metrics.
	Metrics *Metrics
	// MaxResponseBytes bounds a buffered target response; 0 means 7 MiB.
	MaxResponseBytes int
	// MaxRequestBytes bounds a request body; 0 means 6 MiB. Larger bodies
	// get 413.
	MaxRequestBytes int64
	// ReadHeaderTimeout and ReadTimeout are NewServer's; 0 means the
	// package's constants.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	Logger            *slog.Logger
	Now               func() time.Time
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
	routes  atomic.Pointer[table] // swapped whole by SetRoutes
	log     *slog.Logger
	now     func() time.Time
	maxResp int
	maxReq  int64
	// From Config.PublicURL: its scheme, host[:port] and port.
	scheme, publicHost, publicPort string
}

// New checks cfg and builds the routing table. A route whose protection
// cannot be honoured (no target, no resource, no path) is refused: the
// gateway never serves a route unprotected by accident.
func New(cfg Config) (*Gateway, error) {
	if cfg.Verifier == nil || cfg.Policy == nil || cfg.Broker == nil || cfg.Recorder == nil || cfg.Pseudonym == nil {
		return nil, errors.New("gateway: verifier, policy, broker, recorder and pseudonym are all required")
	}
	g := &Gateway{cfg: cfg, log: cfg.Logger, now: cfg.Now, maxResp: cfg.MaxResponseBytes, maxReq: cfg.MaxRequestBytes}
	if g.log == nil {
		g.log = slog.Default()
	}
	if g.now == nil {
		g.now = time.Now
	}
	if g.maxResp == 0 {
		g.maxResp = 7 << 20
	}
	if g.maxReq == 0 {
		g.maxReq = 6 << 20
	}
	if g.cfg.Metadata.BearerMethods == nil {
		g.cfg.Metadata.BearerMethods = []string{"header"}
	}
	if cfg.PublicURL != "" {
		u, err := url.Parse(cfg.PublicURL)
		if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
			return nil, fmt.Errorf("gateway: public URL %q: want scheme://host[:port]", cfg.PublicURL)
		}
		g.scheme, g.publicHost, g.publicPort = u.Scheme, u.Host, u.Port()
	}
	t, err := g.table(cfg.Routes)
	if err != nil {
		return nil, err
	}
	g.routes.Store(t)
	return g, nil
}

// SetRoutes replaces the routing table at once: requests already routed
// finish on the routes they matched, new ones see the new table. On error
// the current table stays.
func (g *Gateway) SetRoutes(routes []Route) error {
	t, err := g.table(routes)
	if err != nil {
		return err
	}
	g.routes.Store(t)
	return nil
}

// table is one routing table: the routes, and their metadata documents by
// path.
type table struct {
	mux  *http.ServeMux
	docs map[string]*ResourceMetadata
}

// table builds the routing table, refusing every route it cannot protect.
func (g *Gateway) table(routes []Route) (*table, error) {
	mux := http.NewServeMux()
	docs := map[string]*ResourceMetadata{}
	base := strings.TrimSuffix(g.cfg.Metadata.Resource, "/")
	var errs []error
	seen := map[string]bool{}
	for i := range routes {
		rt := routes[i] // a copy the handler owns
		switch {
		case rt.ID == "" || seen[rt.ID]:
			errs = append(errs, fmt.Errorf("gateway: route %d: missing or duplicate id %q", i, rt.ID))
			continue
		case rt.Target == nil || rt.Resource.Name == "" || rt.Path == "" || rt.Path[0] != '/':
			errs = append(errs, fmt.Errorf("gateway: route %s: needs a path, a target and a resource", rt.ID))
			continue
		case strings.ContainsAny(rt.Host, "/ {}"):
			errs = append(errs, fmt.Errorf("gateway: route %s: host %q is not a host name", rt.ID, rt.Host))
			continue
		}
		seen[rt.ID] = true
		rt.host = g.publicHost
		if rt.Host != "" {
			rt.host = rt.Host
			if g.publicPort != "" {
				rt.host = net.JoinHostPort(rt.Host, g.publicPort)
			}
		}
		if base != "" {
			rt.metaURL = base + metadataPath
			if rt.Metadata != nil {
				rt.metaURL = base + routeDoc(docs, base, rt.Path, rt.Metadata)
			}
		}
		pattern := rt.Host + rt.Path
		if rt.Method != "" {
			pattern = rt.Method + " " + pattern
		}
		if err := register(mux, pattern, g.routeHandler(&rt)); err != nil {
			errs = append(errs, fmt.Errorf("gateway: route %s: %w", rt.ID, err))
		}
	}
	return &table{mux: mux, docs: docs}, errors.Join(errs...)
}

// routeDoc adds a route's metadata document under its literal path prefix
// (RFC 9728 §3.1: the well-known path, then the resource's path), merged
// with the documents of other routes under the same prefix, and returns
// its path.
func routeDoc(docs map[string]*ResourceMetadata, base, pattern string, m *ResourceMetadata) string {
	prefix := ""
	for _, seg := range strings.Split(strings.Trim(pattern, "/"), "/") {
		if seg == "" || strings.HasPrefix(seg, "{") {
			break
		}
		prefix += "/" + seg
	}
	path := metadataPath + prefix
	d := docs[path]
	if d == nil {
		d = &ResourceMetadata{Resource: base + prefix, BearerMethods: []string{"header"}, ResourceName: m.ResourceName}
		docs[path] = d
	}
	for _, s := range m.AuthorizationServers {
		if !slices.Contains(d.AuthorizationServers, s) {
			d.AuthorizationServers = append(d.AuthorizationServers, s)
		}
	}
	for _, s := range m.ScopesSupported {
		if !slices.Contains(d.ScopesSupported, s) {
			d.ScopesSupported = append(d.ScopesSupported, s)
		}
	}
	return path
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
			g.refuseUnrouted(w, r, reqID, http.StatusBadRequest, "invalid_request", "the request path is not in canonical form", "non_canonical_path")
			return
		}
		t := g.routes.Load()
		if d := t.docs[path]; d != nil {
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(d)
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
		case "/readyz":
			if !g.cfg.Verifier.Ready() {
				http.Error(w, "issuer keys not loaded", http.StatusServiceUnavailable)
				return
			}
			w.Write([]byte("ok\n"))
			return
		}
		// Host names are case-insensitive (and may end in a dot): match
		// routes on one form.
		if host := strings.TrimSuffix(strings.ToLower(r.Host), "."); host != r.Host {
			r.Host = host
		}
		if _, pattern := t.mux.Handler(r); pattern == "" {
			g.refuseUnrouted(w, r, reqID, http.StatusNotFound, "not_found", "no route", "no_route")
			return
		}
		// ServeHTTP (not the handler Handler returned) sets the path
		// values the route's handler reads.
		t.mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey{}, reqID)))
	})
}

// AdminHandler serves what operators read, on a listener of its own
// (loopback by default), never on the public one: /metrics (Prometheus),
// /healthz and /readyz.
func (g *Gateway) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !g.cfg.Verifier.Ready() {
			http.Error(w, "issuer keys not loaded", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	})
	if g.cfg.Metrics != nil {
		mux.Handle("GET /metrics", g.cfg.Metrics.handler())
	}
	return mux
}

// refuseUnrouted answers a request that reached no route, after recording
// its event: the trail has every request but the public documents
// (health, RFC 9728 metadata).
func (g *Gateway) refuseUnrouted(w http.ResponseWriter, r *http.Request, reqID string, status int, code, desc, class string) {
	start := g.now()
	ev := &audit.Event{Time: start, RequestID: reqID, Decision: audit.DecisionError, Status: status, ErrorClass: class}
	if err := g.cfg.Recorder.Record(context.WithoutCancel(r.Context()), ev); err != nil {
		g.log.Error("gateway: audit record failed; refusing the request", "request_id", reqID, "err", err)
		refuse(w, reqID)
		return
	}
	writeJSONError(w, status, code, desc, reqID)
	g.cfg.Metrics.observe("", status, audit.DecisionError, g.now().Sub(start))
}

type requestIDKey struct{}

func newRequestID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// routeHandler runs the pipeline for one route and records the event
// before the response leaves: a buffered response after the whole call, a
// streamed one (HTTP upstream) once its status is known.
func (g *Gateway) routeHandler(rt *Route) http.Handler {
	stream := streams(rt.Target)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := g.now()
		reqID, _ := r.Context().Value(requestIDKey{}).(string)
		ev := &audit.Event{
			Time: start, RequestID: reqID, Route: rt.ID, Action: action(rt, r),
			Resource: rt.Resource.Kind + ":" + rt.Resource.Name,
		}
		if r.ContentLength > g.maxReq {
			buf := newBufferedWriter(g.maxResp)
			writeJSONError(buf, http.StatusRequestEntityTooLarge, "request_too_large", "the request body is too large", reqID)
			ev.Status, ev.ErrorClass = http.StatusRequestEntityTooLarge, "request_too_large"
			g.finish(w, r, rt, ev, start, buf)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, g.maxReq)
		if stream {
			g.serveStreamed(w, r, rt, ev, start)
			return
		}
		buf := newBufferedWriter(g.maxResp)
		if err := g.run(buf, r, rt, ev, reqID); err != nil {
			buf.reset()
			ev.Status = g.writeError(buf, r, err, rt.metaURL, ev)
		} else {
			ev.Status, ev.Decision = buf.status(), audit.DecisionAllow
		}
		g.finish(w, r, rt, ev, start, buf)
	})
}

// finish records ev, then sends the buffered response; if the trail cannot
// take the event the caller gets 503 instead (fail closed).
func (g *Gateway) finish(w http.ResponseWriter, r *http.Request, rt *Route, ev *audit.Event, start time.Time, buf *bufferedWriter) {
	if ev.Decision == "" {
		ev.Decision = audit.DecisionError
	}
	ev.LatencyMicros = g.now().Sub(start).Microseconds()
	if !g.record(r, rt, ev, start) {
		refuse(w, ev.RequestID)
		return
	}
	buf.flushTo(w)
	g.cfg.Metrics.observe(rt.ID, ev.Status, ev.Decision, g.now().Sub(start))
}

// record commits ev and says whether the trail took it.
func (g *Gateway) record(r *http.Request, rt *Route, ev *audit.Event, start time.Time) bool {
	if err := g.cfg.Recorder.Record(context.WithoutCancel(r.Context()), ev); err != nil {
		g.cfg.Metrics.observe(rt.ID, http.StatusServiceUnavailable, audit.DecisionError, g.now().Sub(start))
		g.log.Error("gateway: audit record failed; refusing the request", "request_id", ev.RequestID, "err", err)
		return false
	}
	return true
}

// refuse answers a request whose event the trail did not take: no
// response without a record (fail closed).
func refuse(w http.ResponseWriter, reqID string) {
	w.Header().Set("Retry-After", "5")
	writeJSONError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "the audit trail is unavailable", reqID)
}

// serveStreamed runs the pipeline for a streaming target: the event is
// recorded when the target sets its status (before any byte of the body
// leaves), or after run if the call failed before that.
func (g *Gateway) serveStreamed(w http.ResponseWriter, r *http.Request, rt *Route, ev *audit.Event, start time.Time) {
	cw := &commitWriter{w: w, commit: func(status int) bool {
		ev.Status, ev.Decision = status, audit.DecisionAllow
		ev.LatencyMicros = g.now().Sub(start).Microseconds()
		return g.record(r, rt, ev, start)
	}}
	err := g.run(cw, r, rt, ev, ev.RequestID)
	if cw.committed {
		if cw.ok {
			g.cfg.Metrics.observe(rt.ID, ev.Status, ev.Decision, g.now().Sub(start))
		}
		return
	}
	buf := newBufferedWriter(g.maxResp)
	if err != nil {
		ev.Status = g.writeError(buf, r, err, rt.metaURL, ev)
	} else {
		// The target returned without a response: an empty 200.
		ev.Status, ev.Decision = http.StatusOK, audit.DecisionAllow
	}
	g.finish(w, r, rt, ev, start, buf)
}

// action is the route's action, or by the request's method when unset.
func action(rt *Route, r *http.Request) string {
	if rt.Action != "" {
		return rt.Action
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return authz.ActionRead
	}
	return authz.ActionWrite
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
	if err := accepts(rt, p); err != nil {
		return err
	}
	d := g.cfg.Policy.Decide(p, authz.Request{ // 2 authz
		Action: ev.Action, Resource: rt.Resource, Role: rt.Role,
		Method: r.Method, Path: r.URL.Path, SourceIP: clientIP(r), Time: ev.Time,
	})
	ev.Policies, ev.Role = d.Policies, d.Role
	if !d.Allow {
		ev.Decision = audit.DecisionDeny
		return d.Err()
	}
	ev.Decision = audit.DecisionAllow
	s := &creds.Session{}
	if !rt.NoCredentials {
		s, err = g.cfg.Broker.Credentials(r.Context(), creds.Request{ // 3 creds
			Principal: p, Role: d.Role, Token: string(raw), SessionPolicy: rt.SessionPolicy,
		})
		if err != nil {
			return err
		}
		ev.STSSession = s.SessionName
	}
	ev.Target = rt.TargetName                                    // the event names a target only when it was invoked
	out, err := rt.Target.Invoke(r.Context(), w, r, invoke.Call{ // 4 invoke
		Principal: p, Credentials: s.Credentials, Role: d.Role, RoleSession: s.AssumedRoleARN,
		Policies: d.Policies, RequestID: reqID, RouteKey: routeKey(rt), RawPath: r.URL.Path,
		PathParameters: pathParams(r, rt.Path), Host: rt.host, Scheme: g.scheme,
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

// accepts applies the route's own issuer and audience restrictions to a
// token the verifier accepted.
func accepts(rt *Route, p *authn.Principal) error {
	if len(rt.Issuers) > 0 && !slices.Contains(rt.Issuers, p.IssuerName) {
		return &authn.Error{Kind: authn.InvalidToken, Check: authn.CheckIssuer, Reason: "tokens of this issuer are not accepted on this route"}
	}
	if len(rt.Audiences) == 0 {
		return nil
	}
	switch aud := p.Claims["aud"].(type) {
	case string:
		if slices.Contains(rt.Audiences, aud) {
			return nil
		}
	case []any:
		for _, a := range aud {
			if s, ok := a.(string); ok && slices.Contains(rt.Audiences, s) {
				return nil
			}
		}
	}
	return &authn.Error{Kind: authn.InvalidToken, Check: authn.CheckAudience, Reason: "the token's audience is not accepted on this route"}
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
