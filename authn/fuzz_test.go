package authn

import (
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/testkit"
)

// FuzzVerify feeds arbitrary tokens to a live verifier (run as a seed test;
// coverage-guided runs belong to FuzzParseJWS, which has no network stack): it must never panic,
// every failure must be an *Error with a kind and a check, and nothing but
// the one genuinely signed seed token may verify.
func FuzzVerify(f *testing.F) {
	ks := newKeyServer(f)
	k1, _, ec := testKeys(f)
	ks.addKey("k1", k1, "RS256")
	ks.addKey("ec1", ec, "ES256")
	clock := testkit.NewClock(testStart)
	good := sign(f, hdr("RS256", "k1"), mustJSON(f, entraClaims(ks.issuer(), clock.Now())), "RS256", k1)
	v, err := NewVerifier(Config{Issuers: []IssuerConfig{ks.entraConfig()}, HTTPClient: ks.srv.Client(), Now: clock.Now})
	if err != nil {
		f.Fatal(err)
	}
	if _, err := v.Verify(bg, good); err != nil {
		f.Fatal(err)
	}
	parts := strings.Split(good, ".")
	f.Add(good)
	f.Add(parts[0] + "." + parts[1] + ".")
	f.Add(b64enc([]byte(`{"alg":"none"}`)) + "." + parts[1] + ".")
	f.Add(b64enc([]byte(`{"alg":"RS256","kid":"k1","crit":["x"]}`)) + "." + parts[1] + "." + parts[2])
	f.Add(b64enc([]byte(`{"alg":"RS256","kid":"k1"}`)) + "." + b64enc([]byte(`{"a":{"b":[1,2,{"c":null}]}}`)) + "." + parts[2])
	f.Add("a.b.c.d.e")
	f.Add("..")
	f.Add(b64enc([]byte(`{"alg":"RS256\"\u00e9","kid":"k1"}`)) + "." + parts[1] + "." + parts[2])
	f.Add(b64enc([]byte(`{"alg":"RS256","kid":"k1","\u212Aid":"x"}`)) + "." + parts[1] + "." + parts[2])
	f.Fuzz(func(t *testing.T, token string) {
		p, err := v.Verify(bg, token)
		if err == nil {
			if token != good {
				t.Fatalf("accepted a token that was never signed: %q", token)
			}
			if p == nil || p.Subject == "" {
				t.Fatal("nil principal without error")
			}
			return
		}
		e := AsError(err)
		if e.Kind == "" || e.Check == "" || e.Reason == "" {
			t.Fatalf("error without kind/check/reason: %#v", e)
		}
		// Reasons are built from constants: whatever the token holds,
		// the description goes into WWW-Authenticate unchanged.
		if desc := e.Check + ": " + e.Reason; headerSafe(desc) != desc {
			t.Fatalf("description %q is not plain printable ASCII", desc)
		}
	})
}

// FuzzParseJWS fuzzes the strict compact-JWS parser alone (fast enough for
// coverage-guided fuzzing): no panic, and anything accepted has a header with
// an alg, a JSON object payload, and a signing input that is a prefix of the
// token.
func FuzzParseJWS(f *testing.F) {
	f.Add("eyJhbGciOiJSUzI1NiJ9.eyJhIjoxfQ.c2ln")
	f.Add(b64enc([]byte(`{"alg":"RS256","kid":"k","x5t":"a"}`)) + "." + b64enc([]byte(`{"iss":"x","aud":["a"],"exp":1e9}`)) + ".AA")
	f.Add(b64enc([]byte(`{"alg":"RS256","alg":"none"}`)) + ".e30.AA")
	f.Add("a.b.c.d.e")
	f.Fuzz(func(t *testing.T, token string) {
		j, err := parseJWS(token)
		if err != nil {
			if AsError(err).Check == "" {
				t.Fatalf("error without a check: %v", err)
			}
			return
		}
		if j.header.alg == "" || j.claims == nil || len(j.signature) == 0 || !strings.HasPrefix(token, j.signingInput+".") {
			t.Fatalf("accepted an incomplete token: %+v", j)
		}
	})
}
