// Package upstream is a development HTTP service that shows what an
// upstream behind gatehouse receives. `gatehouse dev` runs it behind the
// gateway's HTTP-upstream routes, so a developer can see, on the wire, the
// headers the gateway sets and the identity it vouches for, and can try
// streaming responses and WebSockets through the gateway.
//
// In: a Config with an optional Verifier (gatehouse's authn.Verifier set up
// for gatehouse's own issuer, with this upstream as the audience) and a
// Logger. Out: an http.Handler serving
//
//	…/events  server-sent events (text/event-stream): n events (query n,
//	          default 3, at most 100), one every interval (query interval,
//	          a Go duration, default 200ms, at most 5s), each flushed as it
//	          is written; the first carries the request description below
//	…/ws      a WebSocket echo: every message comes back with its type
//	          (text or binary), up to 64 KiB per message
//	anything  200 with a JSON description of the request: method, path,
//	else      raw query, host, the size of the body (read up to 1 MiB) and
//	          a short preview of it, the gateway-set headers it received
//	          (X-Gatehouse-*, X-Request-Id, X-Forwarded-For/-Proto/-Host,
//	          Forwarded, and the trace context Traceparent and Tracestate),
//	          whether an Authorization header arrived (the
//	          gateway never passes the caller's token on), and `identity`
//
// where "…/events" is any path ending in /events, and likewise for /ws.
//
// `identity` is the result of verifying the X-Gatehouse-Assertion header
// with the Verifier, as a real upstream should: the assertion is a JWT from
// gatehouse's own issuer whose audience is this upstream. On success it
// holds the verified subject, tenant, issuer (gatehouse) and idp (the
// caller's own issuer), kind, app, agent (the current actor), role (the
// logical role gatehouse granted, claim gatehouse_role), app roles, scopes,
// expiry and every verified claim; otherwise
// {"error": "...", "check": "..."} naming the failed check (the full cause
// goes to the log). The assertion's value is never echoed: the headers
// show it as present or absent. A real upstream would refuse a request
// whose assertion does not verify; this one answers 200 and says why, so
// the problem can be seen.
//
// Nothing a caller sends makes it fail: bodies, header values, query values
// and WebSocket messages are read with bounds, bad query values get a 400
// naming the limit, and a stream ends when the caller goes away.
//
// Left to others: listening, TLS and server timeouts (the caller's
// http.Server; streams extend their own write deadline), and everything the
// gateway does before the request arrives.
package upstream
