package invoke

import (
	"encoding/base64"
	"errors"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/gatehouse-dev/gatehouse/authn"
)

// APIID is requestContext.apiId in every event gatehouse builds.
const APIID = "gatehouse"

// timeLayout is requestContext.time as API Gateway writes it
// ("12/Mar/2024:19:03:58 +0000").
const timeLayout = "02/Jan/2006:15:04:05 -0700"

// BuildEvent maps an HTTP request to the API Gateway HTTP API event
// (payload format 2.0) a function behind API Gateway would receive, with
// the verified identity of call in requestContext.authorizer (see the
// package documentation for the exact mapping). body is the request body,
// already read within the size limit; now is the request time.
//
// The event never carries the Authorization header, the raw token or any
// inbound identity or forwarding header: only the request headers a
// HeaderPolicy passes (here the zero one: the standard headers). The host
// header and requestContext.domainName are call.Host, never the caller's
// Host. call.RawPath is used as rawPath and requestContext.http.path
// exactly as given.
//
// The error is an *Error with Status 400 when the request cannot be
// expressed as an event (a malformed query string); a nil Principal or an
// empty RawPath is the caller's programming error and returns a plain
// error.
func BuildEvent(r *http.Request, body []byte, call Call, now time.Time) (*events.APIGatewayV2HTTPRequest, error) {
	return buildEvent(r, body, call, now, &HeaderPolicy{})
}

func buildEvent(r *http.Request, body []byte, call Call, now time.Time, hp *HeaderPolicy) (*events.APIGatewayV2HTTPRequest, error) {
	if call.Principal == nil {
		return nil, errors.New("invoke: BuildEvent: Call.Principal is nil")
	}
	if call.RawPath == "" {
		return nil, errors.New("invoke: BuildEvent: Call.RawPath is empty")
	}
	query, err := queryParameters(r.URL.RawQuery)
	if err != nil {
		return nil, newError(http.StatusBadRequest, CodeBadRequest, "malformed query string", err)
	}
	routeKey := call.RouteKey
	if routeKey == "" {
		routeKey = "$default"
	}
	stage := call.Stage
	if stage == "" {
		stage = "$default"
	}
	domain := hostOnly(call.Host)
	sourceIP := hostOnly(r.RemoteAddr)
	ev := &events.APIGatewayV2HTTPRequest{
		Version:               "2.0",
		RouteKey:              routeKey,
		RawPath:               call.RawPath,
		RawQueryString:        r.URL.RawQuery,
		Cookies:               cookies(r.Header),
		Headers:               eventHeaders(r, call, hp, sourceIP, len(body)),
		QueryStringParameters: query,
		PathParameters:        nonEmpty(call.PathParameters),
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:     routeKey,
			AccountID:    accountID(call),
			Stage:        stage,
			RequestID:    call.RequestID,
			Authorizer:   authorizer(call),
			APIID:        APIID,
			DomainName:   domain,
			DomainPrefix: domainPrefix(domain),
			Time:         now.UTC().Format(timeLayout),
			TimeEpoch:    now.UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method:    r.Method,
				Path:      call.RawPath,
				Protocol:  r.Proto,
				SourceIP:  sourceIP,
				UserAgent: r.UserAgent(),
			},
		},
	}
	if len(body) > 0 {
		if isText(r.Header.Get("Content-Type"), body) {
			ev.Body = string(body)
		} else {
			ev.Body = base64.StdEncoding.EncodeToString(body)
			ev.IsBase64Encoded = true
		}
	}
	return ev, nil
}

// queryParameters decodes a raw query string the way API Gateway fills
// queryStringParameters: repeated keys joined with commas, in order. It
// returns nil for an empty query.
func queryParameters(raw string) (map[string]string, error) {
	if raw == "" {
		return nil, nil
	}
	values, err := url.ParseQuery(raw)
	if err != nil {
		return nil, err
	}
	if len(values) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(values))
	for k, vs := range values {
		out[k] = strings.Join(vs, ",")
	}
	return out, nil
}

// cookies splits every Cookie header into the cookies array, one
// "name=value" per entry, as API Gateway does.
func cookies(h http.Header) []string {
	var out []string
	for _, line := range h.Values("Cookie") {
		for part := range strings.SplitSeq(line, ";") {
			if part = strings.TrimSpace(part); part != "" {
				out = append(out, part)
			}
		}
	}
	return out
}

// notCopied are the connection-level headers a proxy never forwards
// (RFC 9110 §7.6.1); Cookie, which travels in the cookies array; and Host
// and Content-Length, set from the request itself.
var notCopied = map[string]bool{
	"connection": true, "keep-alive": true, "proxy-connection": true, "te": true,
	"trailer": true, "transfer-encoding": true, "upgrade": true, "cookie": true,
	"host": true, "content-length": true,
}

// eventHeaders is the headers map: lower-cased names, repeated headers
// joined with commas, the headers hp passes but hop-by-hop ones; then
// host (call.Host), content-length and the x-forwarded-* headers set from
// the connection and call, as API Gateway sets them.
func eventHeaders(r *http.Request, call Call, hp *HeaderPolicy, sourceIP string, bodyLen int) map[string]string {
	connection := map[string]bool{}
	for _, v := range r.Header.Values("Connection") {
		for name := range strings.SplitSeq(v, ",") {
			connection[normalizeHeaderName(strings.TrimSpace(name))] = true
		}
	}
	out := make(map[string]string, len(r.Header)+5)
	for name, values := range r.Header {
		norm := normalizeHeaderName(name)
		// The same headers as reach an HTTP upstream (HeaderPolicy).
		if notCopied[norm] || connection[norm] || !hp.passes(name) {
			continue
		}
		key := strings.ToLower(name)
		if prev, ok := out[key]; ok { // two spellings of one name
			out[key] = prev + "," + strings.Join(values, ",")
			continue
		}
		out[key] = strings.Join(values, ",")
	}
	if call.Host != "" {
		out["host"] = call.Host
	}
	if bodyLen > 0 || r.Header.Get("Content-Length") != "" {
		out["content-length"] = strconv.Itoa(bodyLen)
	}
	proto, port := "http", "80"
	if r.TLS != nil {
		proto, port = "https", "443"
	}
	if call.Scheme != "" {
		proto = call.Scheme
	}
	if p := localPort(r, call.Host); p != "" {
		port = p
	}
	out["x-forwarded-for"] = sourceIP
	out["x-forwarded-proto"] = proto
	out["x-forwarded-port"] = port
	return out
}

// localPort is the port the request arrived on: the listener's, else the
// one in the configured host (never the caller's Host).
func localPort(r *http.Request, host string) string {
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if _, p, err := net.SplitHostPort(a.String()); err == nil {
			return p
		}
	}
	if _, p, err := net.SplitHostPort(host); err == nil {
		return p
	}
	return ""
}

// hostOnly strips a port (and IPv6 brackets) from host:port.
func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}

// domainPrefix is the first label of the domain name, as API Gateway fills
// requestContext.domainPrefix; an IP address is its own prefix.
func domainPrefix(domain string) string {
	if net.ParseIP(domain) != nil {
		return domain
	}
	prefix, _, _ := strings.Cut(domain, ".")
	return prefix
}

// accountID is the AWS account the call runs in: the credentials' account,
// else the account of the assumed-role ARN.
func accountID(call Call) string {
	if call.Credentials.AccountID != "" {
		return call.Credentials.AccountID
	}
	return arnAccount(call.RoleSession)
}

// arnAccount returns the 12-digit account of an ARN, or "".
func arnAccount(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || len(parts[4]) != 12 {
		return ""
	}
	for _, c := range parts[4] {
		if c < '0' || c > '9' {
			return ""
		}
	}
	return parts[4]
}

func nonEmpty(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}

// isText reports whether a body goes into the event as text: valid UTF-8
// with no content type or a textual one. Everything else is base64.
func isText(contentType string, body []byte) bool {
	if !utf8.Valid(body) {
		return false
	}
	if contentType == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	typ, sub, _ := strings.Cut(mt, "/")
	if typ == "text" {
		return true
	}
	if typ != "application" {
		return false
	}
	switch sub {
	case "json", "xml", "javascript", "ecmascript", "x-www-form-urlencoded", "graphql",
		"yaml", "x-yaml", "x-ndjson", "jwt", "csv", "sql":
		return true
	}
	return strings.HasSuffix(sub, "+json") || strings.HasSuffix(sub, "+xml") || strings.HasSuffix(sub, "+yaml")
}

// authorizer fills requestContext.authorizer: the verified claims and
// scopes as API Gateway's JWT authorizer does, and gatehouse's envelope.
func authorizer(call Call) *events.APIGatewayV2HTTPRequestContextAuthorizerDescription {
	p := call.Principal
	claims := make(map[string]string, len(p.Claims))
	for k, v := range p.Claims {
		if v == nil {
			continue // absent is clearer than a rendering of null
		}
		claims[k] = FlattenClaim(v)
	}
	var scopes []string
	if p.Kind != authn.KindApp && len(p.Scopes) > 0 {
		scopes = slices.Clone(p.Scopes)
	}
	return &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
		JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{
			Claims: claims,
			Scopes: scopes,
		},
		Lambda: map[string]any{EnvelopeKey: newEnvelope(call)},
	}
}
