package lambdaauth_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"gatehouse/audit"
	"gatehouse/audit/jsonl"
	"gatehouse/authn"
	"gatehouse/authz"
	"gatehouse/lambdaauth"
)

// The in-process tests use a small OpenID issuer on httptest TLS (discovery
// and JWKS, RS256) and in-process handlers; runtime_test.go runs the real
// executables under devkit/runtime with tokens from devkit/idp.

const (
	testAudience = "api://protected-test"
	testTenant   = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	readersGroup = "0b1c2d3e-0000-4000-8000-000000000001"
	testFunction = "protected-fn"
)

var (
	keyOnce sync.Once
	rsaKey  *rsa.PrivateKey
)

func signingKey() *rsa.PrivateKey {
	keyOnce.Do(func() {
		var err error
		if rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	return rsaKey
}

// testIssuer is an OpenID issuer with one RS256 key.
type testIssuer struct {
	srv *httptest.Server
	key *rsa.PrivateKey
}

func newTestIssuer(t testing.TB) *testIssuer {
	ti := &testIssuer{key: signingKey()}
	ti.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			json.NewEncoder(w).Encode(map[string]string{"issuer": ti.srv.URL, "jwks_uri": ti.srv.URL + "/jwks"})
		case "/jwks":
			json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &ti.key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(ti.srv.Close)
	return ti
}

// token signs claims over the issuer's defaults (a user of testTenant in
// no group, valid for an hour).
func (ti *testIssuer) token(t testing.TB, edit func(jwt.MapClaims)) string {
	t.Helper()
	now := time.Now()
	c := jwt.MapClaims{
		"iss": ti.srv.URL, "aud": testAudience, "sub": "user-1", "tid": testTenant, "azp": "client-1",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
	if edit != nil {
		edit(c)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
	tok.Header["kid"] = "k1"
	s, err := tok.SignedString(ti.key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (ti *testIssuer) reader(t testing.TB) string {
	return ti.token(t, func(c jwt.MapClaims) { c["groups"] = []any{readersGroup} })
}

// auditBuffer is the trail as JSON lines in memory.
type auditBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *auditBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *auditBuffer) events(t testing.TB) []audit.Event {
	t.Helper()
	b.mu.Lock()
	data := bytes.Clone(b.buf.Bytes())
	b.mu.Unlock()
	f, err := jsonl.Load(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	evs, err := f.Query(context.Background(), audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func (b *auditBuffer) last(t testing.TB) audit.Event {
	t.Helper()
	evs := b.events(t)
	if len(evs) == 0 {
		t.Fatal("no audit event")
	}
	return evs[len(evs)-1]
}

var pseudonymKey = bytes.Repeat([]byte("k"), 32)

// baseConfig is a Guard configuration on ti: readers may invoke
// testFunction under role "reader" (IAM role reader-role).
func baseConfig(ti *testIssuer, trail *auditBuffer) lambdaauth.Config {
	return lambdaauth.Config{
		AuthN: authn.Config{
			Issuers:    []authn.IssuerConfig{{Name: "test", Type: authn.TypeOIDC, Issuer: ti.srv.URL, Audiences: []string{testAudience}, Claims: authn.ClaimNames{Tenant: "tid"}}},
			HTTPClient: ti.srv.Client(),
		},
		AuthZ: authz.Config{
			Roles: []authz.Role{{Name: "reader", Actions: []string{authz.ActionInvoke}, Functions: []string{testFunction}}},
			Rules: []authz.Rule{{ID: "readers", Effect: authz.EffectAllow, Roles: []string{"reader"}, Groups: []authz.GroupRef{{ID: readersGroup}}}},
		},
		Resource: authz.Resource{Kind: authz.ResourceFunction, Name: testFunction},
		Audit:    lambdaauth.Audit{Sink: jsonl.New(trail), PseudonymKey: lambdaauth.SecretBytes(pseudonymKey), Claims: []string{"azp", "email"}},
		AWS:      &aws.Config{Region: "us-east-1"},
		Logger:   slog.New(slog.DiscardHandler),
	}
}

func newGuard(t testing.TB, cfg lambdaauth.Config) *lambdaauth.Guard {
	t.Helper()
	g, err := lambdaauth.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { g.Close() })
	return g
}

// lambdaCtx is the context aws-lambda-go gives a handler.
func lambdaCtx(reqID string) context.Context {
	return lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: reqID})
}
