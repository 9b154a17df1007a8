package lambdaauth_test

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/audit/jsonl"
	"github.com/gatehouse-dev/gatehouse/authn"
	"github.com/gatehouse-dev/gatehouse/authz"
	"github.com/gatehouse-dev/gatehouse/internal/testkit"
	"github.com/gatehouse-dev/gatehouse/lambdaauth"
)

// The in-process tests use testkit's OpenID issuer (discovery and JWKS,
// RS256, on httptest TLS) and in-process handlers; runtime_test.go runs the
// real executables under devkit/runtime with tokens from devkit/idp.

const (
	testAudience = "api://protected-test"
	testTenant   = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	readersGroup = "0b1c2d3e-0000-4000-8000-000000000001"
	testFunction = "protected-fn"
)

// signToken signs, with iss's key, claims over the tests' defaults (a user
// of testTenant in no group, with an email address, valid for an hour).
func signToken(iss *testkit.Issuer, edit func(claims map[string]any)) string {
	now := time.Now()
	c := map[string]any{
		"iss": iss.URL(), "aud": testAudience, "sub": "user-1", "tid": testTenant, "azp": "client-1", "email": "user-1@example.com",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
	if edit != nil {
		edit(c)
	}
	return iss.Sign(c)
}

// readerToken is signToken's user in readersGroup.
func readerToken(iss *testkit.Issuer) string {
	return signToken(iss, func(c map[string]any) { c["groups"] = []any{readersGroup} })
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

// userEvent is ev with the identity of signToken's user filled in as the
// trail records it: the pseudonym under pseudonymKey, never the subject,
// with that key's id; the client (azp) acting for the user; and of the
// claims baseConfig allow-lists (azp, email) only azp: the trail drops
// personal claims whatever the list says.
func userEvent(t testing.TB, ev audit.Event) audit.Event {
	t.Helper()
	p, err := audit.NewPseudonymizer(pseudonymKey)
	if err != nil {
		t.Fatal(err)
	}
	ev.Tenant, ev.Principal, ev.PrincipalKind, ev.App = testTenant, p.Principal(testTenant, "user-1"), "user", "client-1"
	ev.PseudonymKey = p.KeyID()
	ev.Agents = []audit.Agent{{App: "client-1", Via: "client", Subject: "client-1"}}
	ev.Claims = map[string]string{"azp": "client-1"}
	return ev
}

// baseConfig is a Guard configuration on iss: readers may invoke
// testFunction under role "reader" (IAM role reader-role).
func baseConfig(iss *testkit.Issuer, trail *auditBuffer) lambdaauth.Config {
	return lambdaauth.Config{
		AuthN: authn.Config{
			Issuers:    []authn.IssuerConfig{{Name: "test", Type: authn.TypeOIDC, Issuer: iss.URL(), Audiences: []string{testAudience}, Claims: authn.ClaimNames{Tenant: "tid"}}},
			HTTPClient: iss.Client(),
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

// newGuard builds a Guard as Lambda would run it, in a function named
// testFunction: the function its events name as their target.
func newGuard(t testing.TB, cfg lambdaauth.Config) *lambdaauth.Guard {
	t.Helper()
	t.Setenv("AWS_LAMBDA_FUNCTION_NAME", testFunction)
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
