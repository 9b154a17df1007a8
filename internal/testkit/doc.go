// Package testkit is the test plumbing several packages share, so that each
// test file says what it checks rather than how to fake time or an identity
// provider:
//
//   - Clock, a fake clock for the Now func() time.Time field of a Config:
//     time moves only when the test says so, so expiry and refresh are
//     tested without sleeping.
//   - Issuer, an OpenID issuer on a TLS httptest server on 127.0.0.1: a
//     discovery document and a JWKS with one signing key (RS256, or ES256),
//     and Sign, which makes real signed JWTs with go-jose's keys and
//     golang-jwt's signer, for the real verifier to fetch and check.
//   - DiffEvent, a go-cmp comparison of two audit.Events that leaves out
//     what the Recorder or the clock fills in, so a test asserts the whole
//     event a request left behind, not two of its fields.
//
// In: a testing.TB, whose Cleanup stops the servers. Out: values for the
// Config fields of the package under test (Clock.Now, Issuer.URL,
// Issuer.Client) and tokens or diffs to assert on.
//
// Left to others: what a token should claim (each test builds its claims),
// deliberately malformed tokens (authn signs raw header and payload JSON
// itself), and the audit.Sink conformance suite (audit/audittest).
//
// Only _test.go files import testkit; internal/layering fails when a
// non-test package does. It imports no gatehouse package but audit (an
// Event is plain data), so the internal tests of every package except
// audit itself can use it without an import cycle.
//
//	clock := testkit.NewClock(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))
//	iss := testkit.NewIssuer(t, testkit.IssuerConfig{})
//	v, err := authn.NewVerifier(authn.Config{
//		Issuers:    []authn.IssuerConfig{{Name: "test", Issuer: iss.URL(), Audiences: []string{"api://x"}}},
//		HTTPClient: iss.Client(),
//		Now:        clock.Now,
//	})
//	...
//	p, err := v.Verify(ctx, iss.Sign(map[string]any{"iss": iss.URL(), "aud": "api://x", ...}))
//	...
//	if diff := testkit.DiffEvent(want, got); diff != "" {
//		t.Errorf("audit event (-want +got):\n%s", diff)
//	}
package testkit
