package gateway

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"

	"gatehouse/audit"
	"gatehouse/authn"
	"gatehouse/authz"
	"gatehouse/creds"
	"gatehouse/invoke"
)

// writeError is the one place an error becomes a response: what the caller
// sees (a status, an RFC 6750 challenge, a short safe description and the
// request id) and what the log and the event get (the full cause). It
// returns the status written.
func (g *Gateway) writeError(w http.ResponseWriter, r *http.Request, err error, metaURL string, ev *audit.Event) int {
	reqID := ev.RequestID
	var (
		ae *authn.Error
		ze *authz.Error
		ce *creds.Error
		ie *invoke.Error
	)
	status, code, desc := http.StatusInternalServerError, "server_error", "internal error"
	switch {
	case errors.As(err, &ae):
		ev.Check, ev.ErrorClass = ae.Check, string(ae.Kind)
		switch {
		case errors.Is(err, authn.ErrNoToken):
			// RFC 6750 §3.1: no credentials, no error code.
			w.Header().Set("WWW-Authenticate", authn.Challenge("", "", metaURL))
			status, code, desc = http.StatusUnauthorized, "unauthorized", "a bearer token is required"
		case ae.Kind == authn.InvalidRequest:
			w.Header().Set("WWW-Authenticate", authn.Challenge("invalid_request", ae.Reason, metaURL))
			status, code, desc = http.StatusBadRequest, "invalid_request", ae.Reason
		case ae.Kind == authn.Unavailable:
			w.Header().Set("Retry-After", "30")
			status, code, desc = http.StatusServiceUnavailable, "temporarily_unavailable", ae.Reason
		default:
			w.Header().Set("WWW-Authenticate", authn.Challenge("invalid_token", ae.Check+": "+ae.Reason, metaURL))
			status, code, desc = http.StatusUnauthorized, "invalid_token", ae.Check+": "+ae.Reason
		}
	case errors.As(err, &ze):
		ev.ErrorClass = "access_denied"
		w.Header().Set("WWW-Authenticate", authn.Challenge("insufficient_scope", ze.Public(), metaURL))
		status, code, desc = http.StatusForbidden, "insufficient_scope", ze.Public()
	case errors.As(err, &ce):
		ev.ErrorClass = "credentials"
		if ce.Code != "" {
			ev.ErrorClass += ":" + ce.Code
		}
		status, code, desc = ce.Status, "credentials_refused", ce.Reason
		if ce.Status == http.StatusServiceUnavailable {
			code = "temporarily_unavailable"
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(max(ce.RetryAfter.Seconds(), 1)))))
		}
	case errors.As(err, &ie):
		ev.ErrorClass = "target:" + ie.Code
		status, code, desc = ie.Status, ie.Code, ie.Reason
		if ie.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(ie.RetryAfter))
		}
	case errors.Is(err, audit.ErrUnavailable):
		ev.ErrorClass = "audit_unavailable"
		w.Header().Set("Retry-After", "5")
		status, code, desc = http.StatusServiceUnavailable, "temporarily_unavailable", "the audit trail is unavailable"
	}
	if status >= 500 {
		g.log.Error("gateway: request failed", "request_id", reqID, "route", ev.Route, "status", status, "err", err)
	} else {
		g.log.Info("gateway: request refused", "request_id", reqID, "route", ev.Route, "status", status, "check", ev.Check, "err", err)
	}
	writeJSONError(w, status, code, desc, reqID)
	return status
}

func writeJSONError(w http.ResponseWriter, status int, code, desc, reqID string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc, "request_id": reqID})
}
