package gateway

import (
	"context"
	"net/http"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/authn"
	"github.com/gatehouse-dev/gatehouse/creds"
	"github.com/gatehouse-dev/gatehouse/internal/requestid"
	"github.com/gatehouse-dev/gatehouse/invoke"
	"github.com/gatehouse-dev/gatehouse/pipeline"
)

// routeHandler is the pipeline's HTTP adapter for one route: the request
// becomes a pipeline.Request, the route's target is step 4, and the
// outcome becomes the response. The event is recorded before the response
// leaves: a buffered response (a function's) after the whole call, a
// streamed one (an HTTP upstream's) once its status is known.
func (g *Gateway) routeHandler(pl *pipeline.Pipeline, rt *Route) http.Handler {
	stream := streams(rt.Target)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := g.now()
		reqID := requestid.From(r.Context())
		span := noSpan
		if pl.Tracing() {
			r, span = traceRoute(pl, rt, r)
		}
		req := pipeline.Request{
			ID: reqID, Route: rt.ID, Issuers: rt.Issuers, Audiences: rt.Audiences,
			Action: action(rt, r), Resource: rt.Resource, Role: rt.Role,
			Method: r.Method, Path: r.URL.Path, SourceIP: clientIP(r),
			SessionPolicy: rt.SessionPolicy, MetadataURL: rt.metaURL,
		}
		if r.ContentLength > g.maxReq {
			req.Early = errRequestTooLarge // before the token is even read
		} else {
			r.Body = http.MaxBytesReader(w, r.Body, g.maxReq)
			raw, err := authn.BearerToken(r)
			req.Token, req.TokenErr = string(raw), err
		}
		var out pipeline.Outcome
		if stream {
			out = g.serveStreamed(w, r, pl, rt, req)
		} else {
			out = g.serveBuffered(w, r, pl, rt, req)
		}
		out.Call.Annotate(span, out.Status)
		span.End()
		decision := out.Call.Event.Decision
		if out.Call.Event.ErrorClass == "audit_unavailable" {
			decision = audit.DecisionError
		}
		g.cfg.Metrics.observe(rt.ID, out.Status, decision, g.now().Sub(start))
	})
}

var errRequestTooLarge = &pipeline.Error{Status: http.StatusRequestEntityTooLarge, Code: "request_too_large", Description: "the request body is too large"}

// serveBuffered runs a target whose answer is held until the event is
// recorded (a function's: at most MaxResponseBytes).
func (g *Gateway) serveBuffered(w http.ResponseWriter, r *http.Request, pl *pipeline.Pipeline, rt *Route, req pipeline.Request) pipeline.Outcome {
	buf := newBufferedWriter(g.maxResp)
	out := pl.Run(r.Context(), req, func(ctx context.Context, c *pipeline.Call) (int, error) {
		if err := g.invoke(ctx, buf, r, rt, c); err != nil {
			return 0, err
		}
		return buf.status(), nil
	})
	if out.Refusal != nil {
		writeRefusal(w, out.Refusal)
	} else {
		buf.flushTo(w)
	}
	return out
}

// serveStreamed runs a target whose answer streams (an HTTP upstream's:
// server-sent events, WebSockets): the event is recorded when the target
// sets its status, before any byte of the body leaves.
func (g *Gateway) serveStreamed(w http.ResponseWriter, r *http.Request, pl *pipeline.Pipeline, rt *Route, req pipeline.Request) pipeline.Outcome {
	var cw *commitWriter
	out := pl.Run(r.Context(), req, func(ctx context.Context, c *pipeline.Call) (int, error) {
		cw = &commitWriter{w: w, commit: func(status int) bool { return c.Finish(ctx, status) == nil }}
		if err := g.invoke(ctx, cw, r, rt, c); err != nil {
			return 0, err
		}
		if !cw.committed {
			return http.StatusOK, nil // the target returned without a response: an empty 200
		}
		return cw.status, nil
	})
	switch {
	case out.Refusal != nil:
		writeRefusal(w, out.Refusal)
	case cw != nil && cw.committed && !cw.ok:
		out.Status = http.StatusServiceUnavailable // the trail refused the event; the caller got 503
		out.Call.Event.ErrorClass = "audit_unavailable"
	case cw != nil && !cw.committed:
		w.WriteHeader(http.StatusOK)
	}
	return out
}

// invoke is step 4 for a route: its credentials (unless its target needs
// none), then its target.
func (g *Gateway) invoke(ctx context.Context, w http.ResponseWriter, r *http.Request, rt *Route, c *pipeline.Call) error {
	s := &creds.Session{}
	if !rt.NoCredentials {
		var err error
		if s, err = c.Credentials(ctx); err != nil {
			return err
		}
	}
	c.Invoked(rt.TargetName, "")
	oc, err := rt.Target.Invoke(ctx, w, r, invoke.Call{
		Principal: c.Principal, Credentials: s.Credentials, Role: c.Decision.Role, RoleSession: s.AssumedRoleARN,
		Policies: c.Decision.Policies, RequestID: c.Event.RequestID, RouteKey: routeKey(rt), RawPath: r.URL.Path,
		PathParameters: pathParams(r, rt.Path), Host: rt.host, Scheme: g.scheme,
	})
	if oc != nil {
		c.Event.TargetRequestID = oc.TargetRequestID
	}
	return err
}
