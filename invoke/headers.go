package invoke

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// What reaches a target of the caller's request headers is an allow-list
// (SECURITY.md invariant 8, and "prefer allow-lists at trust boundaries"):
// the standard headers of HTTP, content negotiation, caching, CORS, fetch
// metadata, WebSocket handshakes and tracing, plus the names a route adds
// (PassHeaders). Everything else is dropped, so a header that some
// framework reads as an identity, a client address or a scheme never
// arrives merely because nobody listed it. The deny-list below is a second
// fence: a name on it is never passed, and a route may not add it.
//
// Names are compared in lower case with '_' read as '-' (many servers
// behind a proxy fold both into one); an entry ending in '*' takes every
// name that starts with what precedes it.
var passedRequestHeaders = []string{
	// Content negotiation and the body.
	"Accept", "Accept-*", // Accept-Charset, -Encoding, -Language, -Datetime
	"Content-*", // Content-Type, -Encoding, -Language, -Length, -Digest, -Range
	"Digest", "Repr-Digest", "Want-Content-Digest", "Want-Repr-Digest",
	// Conditional and range requests; caching.
	"If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since", "If-Range", "Range",
	"Cache-Control", "Pragma",
	// The client and the page it came from.
	"User-Agent", "Referer", "Origin", "Cookie", "Dnt", "Sec-Gpc", "Save-Data",
	"Upgrade-Insecure-Requests", "Priority", "X-Requested-With",
	"Sec-Fetch-*", "Sec-Ch-*", // fetch metadata, client hints
	"Access-Control-Request-*", // CORS preflight
	// WebSocket handshakes (RFC 6455); the upgrade itself is checked apart.
	"Sec-Websocket-Key", "Sec-Websocket-Version", "Sec-Websocket-Protocol", "Sec-Websocket-Extensions",
	// API conventions that name no one.
	"Prefer", "Idempotency-Key", "X-Csrf-Token", "X-Xsrf-Token",
	// Tracing: W3C Trace Context and Baggage, X-Ray, Zipkin B3. Passed only
	// while gatehouse does not trace the request; when it does, they are
	// replaced by its own trace context (trace.go).
	"Traceparent", "Tracestate", "Baggage", "X-Amzn-Trace-Id", "B3", "X-B3-*",
}

// strippedRequestHeaders is every request header name that claims a
// credential, an identity, a client address, scheme or host, a client
// certificate, or another path or method than the one the gateway
// authorised. None reaches a target, whatever a route's PassHeaders say
// (NewHTTP and NewLambda refuse such a name). The gateway sets
// X-Forwarded-For, -Host and -Proto itself.
var strippedRequestHeaders = []string{
	// Credentials: the caller's token never reaches the upstream, which
	// gets the signed assertion instead.
	"Authorization",
	"Proxy-Authorization",
	"X-Access-Token",
	"X-Id-Token",
	"X-Jwt-Assertion*", // WSO2 API Manager

	// The gateway's own headers: only the gateway sets them.
	"X-Gatehouse*",
	"X-Request-Id", // replaced by the gateway's request id

	// Forwarding: client address, host and scheme claims.
	"Forwarded",
	"X-Forwarded*", // also -User, -Email, -Groups, -Access-Token, -Preferred-Username, -Client-Cert, -Prefix
	"X-Original-Forwarded-*",
	"X-Real-Ip",
	"X-Client-Ip",
	"Client-Ip",
	"True-Client-Ip",
	"Cf-Connecting-Ip*",
	"Fastly-Client-Ip",
	"Fly-Client-Ip",
	"X-Azure-Clientip",
	"X-Azure-Socketip",
	"X-Cluster-Client-Ip",
	"X-Originating-Ip",
	"X-Remote-Addr",
	"X-Remote-Ip",
	"X-Proxyuser-Ip",
	"Proxy-Client-Ip",
	"Wl-Proxy-Client-Ip",
	"X-Original-Host",
	"X-Host",
	"X-Scheme",
	"X-Url-Scheme",
	"Front-End-Https",
	"X-Arr-Ssl",
	"X-Envoy-*",
	"Via",

	// Identities asserted by identity-aware proxies, gateways and hosting
	// platforms.
	"X-Amzn-Oidc-*",               // AWS Application Load Balancer
	"X-Amzn-Apigateway-*",         // AWS API Gateway
	"X-Goog-Authenticated-User-*", // Google IAP
	"X-Goog-Iap-*",                // Google IAP
	"X-Appengine-*",               // Google App Engine (X-Appengine-User-Email, -User-Id)
	"X-Apigateway-*",              // Google API Gateway (X-Apigateway-Api-Userinfo); serverless-http
	"X-Endpoint-Api-Userinfo",     // Google Cloud Endpoints
	"X-Ms-Client-Principal*",      // Azure App Service authentication
	"X-Ms-Token-*",                // Azure App Service token store
	"X-Arr-Clientcert",            // Azure App Service client certificates
	"Cf-Access-*",                 // Cloudflare Access
	"X-Pomerium-*",                // Pomerium
	"Oidc-Claim-*",                // Apache mod_auth_openidc (OIDC_CLAIM_*)
	"Oidc-Access-Token*",          // Apache mod_auth_openidc
	"Oidc-Id-Token*",              // Apache mod_auth_openidc
	"X-Auth-*",                    // oauth2-proxy (X-Auth-Request-*), Keycloak gatekeeper
	"X-Webauth-*",                 // Grafana's auth proxy convention
	"X-Authenticated-*",           // Kong and others
	"X-Consumer-*",                // Kong
	"X-Credential-Identifier",     // Kong
	"X-Userinfo",                  // Kong OpenID Connect
	"Remote-*",                    // Remote-User, Remote-Groups, Remote-Email (Authelia and others)
	"X-Remote-*",                  // X-Remote-User, X-Remote-Group
	"X-User*",                     // X-User, X-User-Id, X-User-Email, X-Username
	"X-Email",
	"X-Principal*",
	"X-Tenant*",
	"X-Roles",
	"X-Groups",

	// Client certificates as a TLS-terminating proxy passes them on.
	"X-Ssl-*",
	"Ssl-Client-*",
	"X-Client-Cert*",
	"X-Client-Verify",

	// Another path or method than the one authorised (IIS, Symfony,
	// Laravel, Rails, Express method-override middleware).
	"X-Original-Url",
	"X-Original-Uri",
	"X-Original-Method",
	"X-Rewrite-Url",
	"X-Http-Method-Override",
	"X-Http-Method",
	"X-Method-Override",
	"X-Http-Destinationurl",
	"X-Proxy-Url",
}

// nameSet is a list of header names and prefixes in normalised form.
type nameSet struct {
	exact    map[string]bool
	prefixes []string
}

func newNameSet(names []string) nameSet {
	s := nameSet{exact: map[string]bool{}}
	for _, name := range names {
		s.add(name)
	}
	return s
}

func (s *nameSet) add(name string) {
	if p, ok := strings.CutSuffix(name, "*"); ok {
		s.prefixes = append(s.prefixes, normalizeHeaderName(p))
	} else {
		s.exact[normalizeHeaderName(name)] = true
	}
}

// has reports whether the normalised name is in the set. (Indexing and
// comparing with string(norm) does not copy norm.)
func (s *nameSet) has(norm []byte) bool {
	if s.exact[string(norm)] {
		return true
	}
	for _, p := range s.prefixes {
		if len(norm) >= len(p) && string(norm[:len(p)]) == p {
			return true
		}
	}
	return false
}

var (
	passedDefault = newNameSet(passedRequestHeaders)
	strippedSet   = newNameSet(strippedRequestHeaders)
)

// maxHeaderName bounds the header name normalised on the stack; longer
// names are normalised on the heap.
const maxHeaderName = 64

// normalizeHeaderName lower-cases a header name and reads '_' as '-', so
// "X_Gatehouse_User" and "x-gatehouse-user" are the same header here, as
// they are to many servers behind a proxy.
func normalizeHeaderName(name string) string {
	return strings.ReplaceAll(strings.ToLower(name), "_", "-")
}

// normalize returns name's normalised form, in buf when it fits.
func normalize(buf *[maxHeaderName]byte, name string) []byte {
	if len(name) > len(buf) {
		return []byte(normalizeHeaderName(name))
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		case c == '_':
			c = '-'
		}
		buf[i] = c
	}
	return buf[:len(name)]
}

// strippedHeader reports whether the inbound header name is on the
// deny-list, in any case and with '_' or '-'.
func strippedHeader(name string) bool {
	var buf [maxHeaderName]byte
	return strippedSet.has(normalize(&buf, name))
}

// HeaderPolicy decides which of the caller's request headers reach a
// target: the standard ones (see the package documentation), plus the
// names a route passes, never one that claims an identity. The zero
// HeaderPolicy passes the standard headers only.
type HeaderPolicy struct {
	extra nameSet
}

// NewHeaderPolicy returns the policy passing the standard headers and
// names: header names, or prefixes ending in '*' ("X-App-*"). A name that
// claims an identity, a client address, scheme or host, a credential or
// another path or method is refused, as are names that are not RFC 9110
// tokens and hop-by-hop headers.
func NewHeaderPolicy(names []string) (HeaderPolicy, error) {
	var errs []error
	for _, name := range names {
		if err := CheckPassHeader(name); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return HeaderPolicy{}, errors.Join(errs...)
	}
	return HeaderPolicy{extra: newNameSet(names)}, nil
}

// hopByHop are the connection-level headers (RFC 9110 §7.6.1), which
// never pass as such: the proxy handles them.
var hopByHop = map[string]bool{
	"connection": true, "keep-alive": true, "proxy-connection": true, "te": true,
	"trailer": true, "transfer-encoding": true, "upgrade": true, "host": true,
	"http2-settings": true, "proxy-authenticate": true,
}

// CheckPassHeader says why a route may not pass the header name (or
// prefix, ending in '*'), or nil if it may.
func CheckPassHeader(name string) error {
	base, prefix := strings.CutSuffix(name, "*")
	if base == "" || !validHeaderName(base) {
		return fmt.Errorf("header %q: want a header name, or a prefix ending in '*'", name)
	}
	norm := normalizeHeaderName(base)
	if hopByHop[norm] && !prefix {
		return fmt.Errorf("header %q is hop-by-hop: the gateway handles it", name)
	}
	if strippedSet.has([]byte(norm)) {
		return fmt.Errorf("header %q claims an identity, a client address, host or scheme, or a credential: only the gateway sets such headers", name)
	}
	if prefix {
		// A prefix must not take in a denied name either.
		for n := range strippedSet.exact {
			if strings.HasPrefix(n, norm) {
				return fmt.Errorf("header prefix %q takes in %q, which only the gateway may set", name, n)
			}
		}
		for _, p := range strippedSet.prefixes {
			if strings.HasPrefix(p, norm) {
				return fmt.Errorf("header prefix %q takes in %s*, which only the gateway may set", name, p)
			}
		}
	}
	return nil
}

// passes reports whether the inbound header name reaches the target.
func (hp *HeaderPolicy) passes(name string) bool {
	var buf [maxHeaderName]byte
	norm := normalize(&buf, name)
	if strippedSet.has(norm) {
		return false
	}
	return passedDefault.has(norm) || hp.extra.exact != nil && hp.extra.has(norm)
}

// filter deletes from h every header the policy does not pass.
func (hp *HeaderPolicy) filter(h http.Header) {
	for name := range h {
		if !hp.passes(name) {
			delete(h, name)
		}
	}
}
