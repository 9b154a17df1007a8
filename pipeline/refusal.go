package pipeline

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/authn"
	"github.com/gatehouse-dev/gatehouse/authz"
	"github.com/gatehouse-dev/gatehouse/creds"
	"github.com/gatehouse-dev/gatehouse/invoke"
)

// Refusal is what a caller gets instead of the target's answer. Every
// front door writes it in its own response shape (Headers, Body), and
// every field is safe to show: none echoes what the caller sent, names a
// rule, or reveals an internal address.
type Refusal struct {
	// Status is the HTTP status: 400, 401, 403, 408, 413, 429, 5xx.
	Status int
	// Code is the error code: RFC 6750's (invalid_request, invalid_token,
	// insufficient_scope), "unauthorized" for a request with no token,
	// temporarily_unavailable, credentials_refused, a target's code
	// (invoke.Code*), or server_error.
	Code string
	// Description says what failed, for the caller.
	Description string
	// Challenge is the WWW-Authenticate value; "" when none is sent.
	Challenge string
	// RetryAfter is Retry-After in seconds; 0 when none is sent.
	RetryAfter int
	// RequestID ties the answer to the log and the audit trail.
	RequestID string
}

// Headers are the refusal's response headers.
func (r *Refusal) Headers() map[string]string {
	h := map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store"}
	if r.Challenge != "" {
		h["WWW-Authenticate"] = r.Challenge
	}
	if r.RetryAfter > 0 {
		h["Retry-After"] = strconv.Itoa(r.RetryAfter)
	}
	return h
}

// Body is the refusal's JSON body: error, error_description, request_id.
func (r *Refusal) Body() []byte {
	b, _ := json.Marshal(struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
		RequestID   string `json:"request_id"`
	}{r.Code, r.Description, r.RequestID})
	return append(b, '\n')
}

// Refuse is the one place any step's failure becomes what the caller gets
// (status, RFC 6750 challenge, public code and description) and what the
// event and the log get (check, error class, the full cause). Each step's
// error says its status: *authn.Error (400, 401, 503), *authz.Error (403),
// *creds.Error (403, 503), *invoke.Error (its Status), audit.ErrUnavailable
// (503); anything else is a 500 that shows only the request id.
func (c *Call) Refuse(err error) *Refusal {
	var (
		ae *authn.Error
		ze *authz.Error
		ce *creds.Error
		ie *invoke.Error
		pe *Error
	)
	ev := &c.Event
	meta := c.req.metadataURL
	r := &Refusal{Status: http.StatusInternalServerError, Code: "server_error", Description: "internal error", RequestID: ev.RequestID}
	if errors.Is(err, authn.ErrNoToken) && !errors.As(err, &ae) {
		err = &authn.Error{Kind: authn.InvalidRequest, Check: authn.CheckRequest, Reason: "no bearer token", Err: err}
	}
	switch {
	case errors.As(err, &ae):
		ev.Check, ev.ErrorClass = ae.Check, string(ae.Kind)
		switch {
		case errors.Is(err, authn.ErrNoToken):
			// RFC 6750 §3.1: no credentials, no error code.
			r.Status, r.Code, r.Description = http.StatusUnauthorized, "unauthorized", "a bearer token is required"
			r.Challenge = authn.Challenge("", "", meta)
		case ae.Kind == authn.InvalidRequest:
			r.Status, r.Code, r.Description = http.StatusBadRequest, "invalid_request", ae.Reason
			r.Challenge = authn.Challenge("invalid_request", ae.Reason, meta)
		case ae.Kind == authn.Unavailable:
			r.Status, r.Code, r.Description, r.RetryAfter = http.StatusServiceUnavailable, "temporarily_unavailable", ae.Reason, 30
		default:
			r.Status, r.Code, r.Description = http.StatusUnauthorized, "invalid_token", ae.Check+": "+ae.Reason
			r.Challenge = authn.Challenge("invalid_token", r.Description, meta)
		}
	case errors.As(err, &ze):
		ev.ErrorClass = "access_denied"
		r.Status, r.Code, r.Description = ze.StatusCode(), "insufficient_scope", ze.Public()
		r.Challenge = authn.Challenge("insufficient_scope", ze.Public(), meta)
	case errors.As(err, &ce):
		ev.ErrorClass = credentialsClass(ce)
		r.Status, r.Code, r.Description = ce.Status, "credentials_refused", ce.Reason
		if ce.Status == http.StatusServiceUnavailable {
			r.Code = "temporarily_unavailable"
			r.RetryAfter = int(math.Ceil(max(ce.RetryAfter.Seconds(), 1)))
		}
	case errors.As(err, &ie):
		ev.ErrorClass = "target:" + ie.Code
		r.Status, r.Code, r.Description, r.RetryAfter = ie.Status, ie.Code, ie.Reason, ie.RetryAfter
	case errors.As(err, &pe):
		ev.ErrorClass = pe.Code
		r.Status, r.Code, r.Description = pe.Status, pe.Code, pe.Description
	case errors.Is(err, audit.ErrUnavailable):
		ev.ErrorClass = "audit_unavailable"
		r.Status, r.Code, r.Description, r.RetryAfter = http.StatusServiceUnavailable, "temporarily_unavailable", "the audit trail is unavailable", 5
	}
	// Refuse has no context: the trace id is named here (LogHandler adds
	// none it finds already).
	var tid []any
	if ev.TraceID != "" {
		tid = []any{"trace_id", ev.TraceID}
	}
	if r.Status >= 500 {
		c.pl.log.Error("request failed", append([]any{"request_id", ev.RequestID, "route", ev.Route, "status", r.Status, "err", err}, tid...)...)
	} else {
		c.pl.log.Info("request refused", append([]any{"request_id", ev.RequestID, "route", ev.Route, "status", r.Status, "check", ev.Check, "err", err}, tid...)...)
	}
	return r
}
