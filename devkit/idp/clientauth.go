package idp

import (
	"bytes"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	// assertionLeeway is the clock skew allowed on client assertions.
	assertionLeeway = time.Minute
	// maxAssertionLifetime bounds exp of a client assertion (MSAL uses 10
	// minutes), which bounds how long its jti must be remembered.
	maxAssertionLifetime = time.Hour
)

// Client authentication methods as `azpacr` / `appidacr` values.
const (
	acrPublic      = "0"
	acrSecret      = "1"
	acrCertificate = "2"
)

// client is an authenticated (or, for a public client, identified) caller.
type client struct {
	app *app
	acr string
	// credential says which of the app's credentials it used, as Entra's
	// sign-in log does ("secret 2": the app's second secret), never the
	// credential itself; "" for a public client.
	credential string
}

// authenticateClient identifies the client of a token request and checks its
// credential: a secret in the body (client_secret_post) or in HTTP Basic
// (client_secret_basic, each part form-urlencoded per RFC 6749 §2.3.1), or a
// signed assertion (private_key_jwt). A public client must send none; a
// confidential client must send one unless it allows public flows and
// needCredential is false.
func (s *Server) authenticateClient(r *http.Request, form url.Values, t *tenant, needCredential bool) (client, *oauthError) {
	clientID, secret := form.Get("client_id"), form.Get("client_secret")
	assertion, assertionType := form.Get("client_assertion"), form.Get("client_assertion_type")
	if user, pass, ok := r.BasicAuth(); ok {
		id, err1 := url.QueryUnescape(user)
		pw, err2 := url.QueryUnescape(pass)
		switch {
		case err1 != nil || err2 != nil:
			return client{}, errMalformed("the Authorization header is not form-urlencoded client credentials.")
		case form.Has("client_secret") || form.Has("client_assertion"):
			return client{}, errMalformed("more than one client authentication method was used.")
		case clientID != "" && clientID != id:
			return client{}, errMalformed("client_id differs from the client authenticated by the Authorization header.")
		}
		clientID, secret = id, pw
		if secret == "" {
			return client{}, newError(errInvalidClient, 7000215, "Invalid client secret provided.")
		}
	} else if r.Header.Get("Authorization") != "" {
		return client{}, errMalformed("the Authorization header is not HTTP Basic client credentials.")
	}
	if clientID == "" {
		return client{}, errMissing("client_id")
	}
	a := t.byClient[strings.ToLower(clientID)]
	if a == nil {
		return client{}, newError(errUnauthorizedClient, 700016,
			"Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.",
			truncate(clientID), t.name())
	}
	switch {
	case secret != "" && assertion != "":
		return client{}, errMalformed("more than one client authentication method was used.")
	case (secret != "" || assertion != "") && !a.confidential():
		return client{}, newError(errInvalidClient, 700025, "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.")
	case secret != "":
		for i, want := range a.Secrets {
			if subtle.ConstantTimeCompare([]byte(secret), []byte(want)) == 1 {
				return client{app: a, acr: acrSecret, credential: fmt.Sprintf("secret %d", i+1)}, nil
			}
		}
		return client{}, newError(errInvalidClient, 7000215,
			"Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", a.ClientID)
	case assertion != "":
		if assertionType != clientAssertionType {
			if assertionType == "" {
				return client{}, errMissing("client_assertion_type")
			}
			return client{}, errMalformed("client_assertion_type must be '%s'.", clientAssertionType)
		}
		if e := s.verifyClientAssertion(t, a, clientID, assertion); e != nil {
			return client{}, e
		}
		return client{app: a, acr: acrCertificate, credential: "certificate"}, nil
	case needCredential || !a.allowsPublic():
		return client{}, newError(errInvalidClient, 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
	}
	return client{app: a, acr: acrPublic}, nil
}

// verifyClientAssertion checks a private_key_jwt assertion (RFC 7523 §3,
// spec §9): PS256 or RS256, signed by a certificate registered for the app
// and named by its x5t#S256 or x5t thumbprint (either base64 alphabet, as
// MSAL sends standard base64); iss = sub = client id; aud = this token
// endpoint or the issuer; exp required and near; jti never seen before. An
// x5c header is not trusted: only registered certificates verify.
func (s *Server) verifyClientAssertion(t *tenant, a *app, clientID, raw string) *oauthError {
	now := s.now()
	auds := []string{s.tokenURL(t), s.issuerV2(t), s.issuerV1(t)}
	if t.Domain != "" {
		auds = append(auds, s.base+"/"+t.Domain+"/oauth2/v2.0/token")
	}
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{"PS256", "RS256"}),
		jwt.WithIssuer(clientID),
		jwt.WithSubject(clientID),
		jwt.WithAudience(auds...),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(s.now),
		jwt.WithLeeway(assertionLeeway),
	)
	var cert *appCert
	claims := jwt.MapClaims{}
	_, err := p.ParseWithClaims(raw, claims, func(tok *jwt.Token) (any, error) {
		cert = a.certFor(tok.Header)
		if cert == nil {
			return nil, errors.New("no certificate registered for the app matches the x5t#S256 or x5t header")
		}
		if now.Before(cert.cert.NotBefore) || now.After(cert.cert.NotAfter) {
			return nil, errors.New("the certificate is not valid at this time")
		}
		return cert.key, nil
	})
	switch {
	case errors.Is(err, jwt.ErrTokenExpired) || errors.Is(err, jwt.ErrTokenNotValidYet) || errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return newError(errInvalidClient, 700024, "Client assertion is not within its valid time range: %v", err)
	case err != nil:
		return newError(errInvalidClient, 700027, "Client assertion failed signature validation: %v", err)
	}
	exp, err := claims.GetExpirationTime() // required above
	if err != nil || exp == nil {
		return newError(errInvalidClient, 700027, "Client assertion must contain a numeric 'exp' claim.")
	}
	if exp.Sub(now) > maxAssertionLifetime {
		return newError(errInvalidClient, 700024, "Client assertion is not within its valid time range: exp is more than %v ahead.", maxAssertionLifetime)
	}
	jti, _ := claims["jti"].(string)
	if jti == "" {
		return newError(errInvalidClient, 700027, "Client assertion must contain a 'jti' claim.")
	}
	fresh, e := s.grants.seeAssertion(strings.ToLower(a.ClientID), jti, exp.Add(assertionLeeway), now)
	if e != nil {
		return e
	}
	if !fresh {
		return newError(errInvalidClient, 700027, "Client assertion contains a 'jti' that was already used; a client assertion is good for one request.")
	}
	return nil
}

// certFor finds the registered certificate a JOSE header names by
// thumbprint: x5t#S256 (SHA-256) first, else x5t (SHA-1).
func (a *app) certFor(h map[string]any) *appCert {
	for _, name := range []string{"x5t#S256", "x5t"} {
		v, ok := h[name].(string)
		if !ok {
			continue
		}
		tp := decodeThumbprint(v)
		if tp == nil {
			return nil
		}
		for i := range a.certs {
			c := &a.certs[i]
			want := c.sha256
			if name == "x5t" {
				want = c.sha1
			}
			if bytes.Equal(tp, want) {
				return c
			}
		}
		return nil
	}
	return nil
}

// decodeThumbprint decodes base64url (RFC 7515) or standard base64 (MSAL),
// padded or not.
func decodeThumbprint(s string) []byte {
	for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.StdEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b
		}
	}
	return nil
}

func truncate(s string) string {
	const max = 100
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}
