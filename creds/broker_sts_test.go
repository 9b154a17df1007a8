package creds

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/authn"
	"github.com/gatehouse-dev/gatehouse/devkit/idp"
	localsts "github.com/gatehouse-dev/gatehouse/devkit/sts"
	"github.com/gatehouse-dev/gatehouse/internal/testkit"
	"github.com/gatehouse-dev/gatehouse/mint"
)

// These tests run the Broker against the local STS (devkit/sts) through the
// AWS SDK's own sts client, over loopback TLS: the minted tokens are
// verified there by discovery and JWKS against mint.Issuer's handler, the
// Entra-shaped user tokens come from the development IdP's token endpoint,
// and every trust policy is one TrustPolicy generates.

const (
	account     = "123456789012"
	idpTenant   = "33333333-3333-4333-8333-333333333333"
	adaOID      = "aaaaaaaa-0000-4000-8000-000000000001"
	apiAppID    = "c0000000-0000-4000-8000-000000000001"
	cliAppID    = "c0000000-0000-4000-8000-000000000005"
	adaPass     = "ada-password"
	apiScope    = "api://gatehouse-api/access_as_user"
	readerARN   = "arn:aws:iam::" + account + ":role/gatehouse-reader"
	writerARN   = "arn:aws:iam::" + account + ":role/gatehouse-writer"
	entraARN    = "arn:aws:iam::" + account + ":role/entra-reader"
	chainedARN  = "arn:aws:iam::" + account + ":role/gatehouse-chained"
	untaggedARN = "arn:aws:iam::" + account + ":role/gatehouse-untagged"
)

// stsEnv is one local world: IdP, gatehouse issuer and local STS, each an
// httptest TLS server (they share httptest's certificate, so one client
// trusts them all), and a clock the broker, issuer and STS share.
type stsEnv struct {
	clock     *testkit.Clock
	client    *http.Client // trusts the servers
	idp       *idp.Server
	idpURL    string
	issuer    *mint.Issuer
	issuerH   *lazyHandler
	sts       *localsts.Server
	stsURL    string
	stsClient *sts.Client // anonymous: AssumeRoleWithWebIdentity needs no credentials
	verifier  *authn.Verifier
	calls     sync.Map                      // Action -> *atomic.Int64
	gate      atomic.Pointer[chan struct{}] // when set, STS requests wait for it to close
	roles     []Role                        // the broker roles, matching the STS roles' trust policies
}

func (e *stsEnv) count(action string) int64 {
	v, _ := e.calls.LoadOrStore(action, new(atomic.Int64))
	return v.(*atomic.Int64).Load()
}

// lazyHandler lets a server start (and know its URL) before its handler exists.
type lazyHandler struct{ h atomic.Pointer[http.Handler] }

func (l *lazyHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	(*l.h.Load()).ServeHTTP(w, r)
}
func (l *lazyHandler) set(h http.Handler) { l.h.Store(&h) }

func startTLS(t testing.TB) (*httptest.Server, *lazyHandler) {
	l := &lazyHandler{}
	srv := httptest.NewUnstartedServer(l)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, l
}

func newSTSEnv(t testing.TB) *stsEnv {
	t.Helper()
	e := &stsEnv{clock: testkit.NewClock(time.Now().Truncate(time.Second))}
	log := testLogger(t)

	// Development IdP, Entra-shaped: a tenant with a user, an API and a CLI.
	idpSrv, idpH := startTLS(t)
	e.client = idpSrv.Client()
	e.idpURL = idpSrv.URL
	var err error
	e.idp, err = idp.New(idp.Config{
		BaseURL: idpSrv.URL,
		Tenants: []idp.Tenant{{
			ID: idpTenant, Domain: "contoso.example",
			Users: []idp.User{{ObjectID: adaOID, UserPrincipalName: "ada@contoso.example", DisplayName: "Ada Lovelace", Password: adaPass}},
			Apps: []idp.App{
				{Name: "api", ClientID: apiAppID, ObjectID: "d0000000-0000-4000-8000-000000000001", AppIDURI: "api://gatehouse-api",
					Scopes: []string{"access_as_user"}, AccessTokenVersion: 2},
				{Name: "cli", ClientID: cliAppID, ObjectID: "d0000000-0000-4000-8000-000000000005", PublicClient: true,
					RedirectURIs: []string{"http://localhost"}, Permissions: []idp.Permission{{Resource: "api", Scopes: []string{"access_as_user"}}}},
			},
		}},
		Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	idpH.set(e.idp.Handler())

	// gatehouse's issuer, at a path, as the gateway would mount it.
	issSrv, issH := startTLS(t)
	e.issuer, err = mint.NewIssuer(mint.Config{URL: issSrv.URL + "/oidc", Now: e.clock.Now, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	issH.set(e.issuer.Handler())
	e.issuerH = issH

	// The roles, and their trust policies as TrustPolicy writes them.
	entraIssuer := e.idp.Issuer(idpTenant)
	e.roles = []Role{
		{Name: "reader", ARN: readerARN},
		{Name: "writer", ARN: writerARN, SessionTags: []string{TagTenant, TagKind, TagAgent, TagApp}},
		{Name: "entra", ARN: entraARN, Mode: ModeWebIdentity},
		{Name: "chained", ARN: chainedARN, Mode: ModeAssumeRole, Duration: 15 * time.Minute},
		// "sneaky" reuses the writer's IAM role under another logical
		// name: its tokens say role:sneaky:*, which the writer's trust
		// policy does not accept.
		{Name: "sneaky", ARN: writerARN},
		{Name: "untagged", ARN: untaggedARN, SessionTags: []string{}},
	}
	params := TrustParams{AccountID: account, IssuerURL: e.issuer.URL(), ProviderURL: entraIssuer, Audience: apiAppID,
		Clients: []string{cliAppID}, Principal: "arn:aws:iam::" + account + ":role/entra-reader"}
	trust := func(r Role) []byte {
		doc, err := TrustPolicy(r, params)
		if err != nil {
			t.Fatal(err)
		}
		return doc
	}
	e.sts, err = localsts.New(localsts.Config{
		AccountID: account,
		Region:    "us-east-1",
		Providers: []localsts.Provider{
			{URL: e.issuer.URL(), ClientIDs: []string{Audience}},
			{URL: entraIssuer, ClientIDs: []string{apiAppID}},
		},
		Roles: []localsts.Role{
			{Name: "gatehouse-reader", TrustPolicy: trust(e.roles[0]), Invoke: []string{"reports-*"}},
			{Name: "gatehouse-writer", TrustPolicy: trust(e.roles[1])},
			{Name: "entra-reader", TrustPolicy: trust(e.roles[2])},
			{Name: "gatehouse-chained", TrustPolicy: trust(e.roles[3])},
			{Name: "gatehouse-untagged", TrustPolicy: trust(e.roles[5])},
		},
		HTTPClient: e.client,
		Now:        e.clock.Now,
		Logger:     log,
	})
	if err != nil {
		t.Fatal(err)
	}
	stsSrv, stsH := startTLS(t)
	e.stsURL = stsSrv.URL
	stsH.set(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(body))
		v, _ := e.calls.LoadOrStore(form.Get("Action"), new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
		if g := e.gate.Load(); g != nil {
			<-*g
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		e.sts.Handler().ServeHTTP(w, r)
	}))
	e.stsClient = sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(stsSrv.URL), HTTPClient: e.client})

	e.verifier, err = authn.NewVerifier(authn.Config{
		Issuers:    []authn.IssuerConfig{{Name: "entra", Type: authn.TypeEntra, Issuer: entraIssuer, Audiences: []string{apiAppID}}},
		HTTPClient: e.client,
		Logger:     log,
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// broker returns a Broker on the env's roles, STS client and clock.
func (e *stsEnv) broker(t testing.TB, edit ...func(*Config)) *Broker {
	t.Helper()
	cfg := Config{Roles: e.roles, Issuer: e.issuer, STS: e.stsClient, Now: e.clock.Now, Logger: testLogger(t)}
	for _, f := range edit {
		f(&cfg)
	}
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// userToken signs Ada in at the IdP's token endpoint (password grant, as
// `gatehouse token` does) and returns her access token for the API and the
// Principal gatehouse's verifier makes of it.
func (e *stsEnv) userToken(t testing.TB) (string, *authn.Principal) {
	t.Helper()
	conf := &oauth2.Config{ClientID: cliAppID, Scopes: []string{apiScope},
		Endpoint: oauth2.Endpoint{TokenURL: e.idpURL + "/" + idpTenant + "/oauth2/v2.0/token", AuthStyle: oauth2.AuthStyleInParams}}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, e.client)
	tok, err := conf.PasswordCredentialsToken(ctx, "ada@contoso.example", adaPass)
	if err != nil {
		t.Fatal(err)
	}
	p, err := e.verifier.Verify(context.Background(), tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	return tok.AccessToken, p
}

// callerIdentity is GetCallerIdentity's answer, with the source identity
// and tags devkit/sts adds as extra elements (SDKs skip them, so they are
// read from the raw response).
type callerIdentity struct {
	Arn, UserID, Account, SourceIdentity string
	Tags                                 map[string]string
}

// teeTransport keeps the last response body it carried.
type teeTransport struct {
	base http.RoundTripper
	last []byte
}

func (tt *teeTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := tt.base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	tt.last, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(tt.last))
	return resp, nil
}

// whoAmI calls GetCallerIdentity with the session's credentials through the
// SDK (SigV4-signed; the local STS checks the signature).
func (e *stsEnv) whoAmI(t testing.TB, s *Session) callerIdentity {
	t.Helper()
	tee := &teeTransport{base: e.client.Transport}
	client := sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(e.stsURL),
		HTTPClient:  &http.Client{Transport: tee},
		Credentials: aws.NewCredentialsCache(credentials.StaticCredentialsProvider{Value: s.Credentials})})
	out, err := client.GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity: %v", err)
	}
	var raw struct {
		Result struct {
			SourceIdentity string `xml:"SourceIdentity"`
			Tags           []struct {
				Key, Value string
			} `xml:"PrincipalTags>member"`
		} `xml:"GetCallerIdentityResult"`
	}
	if err := xml.Unmarshal(tee.last, &raw); err != nil {
		t.Fatal(err)
	}
	ci := callerIdentity{Arn: aws.ToString(out.Arn), UserID: aws.ToString(out.UserId), Account: aws.ToString(out.Account),
		SourceIdentity: raw.Result.SourceIdentity, Tags: map[string]string{}}
	for _, tg := range raw.Result.Tags {
		ci.Tags[tg.Key] = tg.Value
	}
	return ci
}

// agentPrincipal is testPrincipal at the IdP's tenant, as a user acting
// through an agent, with personal data in its claims.
func agentPrincipal() *authn.Principal {
	p := testPrincipal()
	p.Tenant, p.Subject = idpTenant, adaOID
	return p
}

func TestBrokerModeEndToEnd(t *testing.T) {
	e := newSTSEnv(t)
	b := e.broker(t)
	p := agentPrincipal()
	fn := "arn:aws:lambda:us-east-1:" + account + ":function:reports-daily"
	s, err := b.Credentials(context.Background(), Request{Principal: p, Role: "reader", SessionPolicy: InvokePolicy(fn)})
	if err != nil {
		t.Fatal(err)
	}
	wantARN := "arn:aws:sts::" + account + ":assumed-role/gatehouse-reader/" + adaOID
	if s.AssumedRoleARN != wantARN || s.RoleARN != readerARN || s.SessionName != adaOID {
		t.Errorf("session = %s %s %s, want %s", s.AssumedRoleARN, s.RoleARN, s.SessionName, wantARN)
	}
	if s.SourceIdentity != Pseudonym(p) {
		t.Errorf("SourceIdentity = %q, want the pseudonym %q", s.SourceIdentity, Pseudonym(p))
	}
	c := s.Credentials
	if !strings.HasPrefix(c.AccessKeyID, "ASIA") || c.SecretAccessKey == "" || c.SessionToken == "" || !c.CanExpire ||
		!c.Expires.Equal(e.clock.Now().Add(time.Hour)) || c.AccountID != account || c.Source != "gatehouse/creds" {
		t.Errorf("credentials = %+v", s)
	}
	wantTags := map[string]string{"tenant": idpTenant, "kind": "user", "agent": testAgentID}
	if !equalMaps(s.Tags, wantTags) {
		t.Errorf("Tags = %v, want %v", s.Tags, wantTags)
	}

	ci := e.whoAmI(t, s)
	if ci.Arn != wantARN || ci.Account != account || !strings.HasSuffix(ci.UserID, ":"+adaOID) {
		t.Errorf("GetCallerIdentity = %+v, want %s", ci, wantARN)
	}
	if ci.SourceIdentity != Pseudonym(p) || !equalMaps(ci.Tags, wantTags) {
		t.Errorf("STS recorded source identity %q tags %v, want %q %v", ci.SourceIdentity, ci.Tags, Pseudonym(p), wantTags)
	}
	for _, v := range []string{ci.Arn, ci.UserID, ci.SourceIdentity, s.SessionName} {
		assertNoPersonalData(t, "what STS recorded", v)
	}
	for _, v := range ci.Tags {
		assertNoPersonalData(t, "session tag", v)
	}

	// The writer role emits the app tag too; its trust policy allows it.
	s2, err := b.Credentials(context.Background(), Request{Principal: p, Role: "writer"})
	if err != nil {
		t.Fatal(err)
	}
	if got := e.whoAmI(t, s2).Tags["app"]; got != testAppID {
		t.Errorf("writer session app tag = %q", got)
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestBrokerTrustRefusalIs403(t *testing.T) {
	e := newSTSEnv(t)
	b := e.broker(t)
	req := Request{Principal: agentPrincipal(), Role: "sneaky"}
	for i := 1; i <= 2; i++ {
		_, err := b.Credentials(context.Background(), req)
		var ce *Error
		if !errors.As(err, &ce) || ce.Status != http.StatusForbidden || ce.Code != "AccessDenied" || ce.Role != "sneaky" {
			t.Fatalf("Credentials(sneaky) err = %v, want 403 AccessDenied for role sneaky", err)
		}
		if !strings.Contains(ce.Reason, `"sneaky"`) || strings.Contains(ce.Reason, "127.0.0.1") {
			t.Errorf("Reason = %q: want the role named and no internal address", ce.Reason)
		}
		// Not retried (one STS call per request) and not cached.
		if n := e.count("AssumeRoleWithWebIdentity"); n != int64(i) {
			t.Errorf("STS calls after %d refusals = %d", i, n)
		}
	}
	if n := b.cache.len(); n != 0 {
		t.Errorf("cache holds %d entries after refusals", n)
	}
	// The writer role itself still works for its own logical role.
	if _, err := b.Credentials(context.Background(), Request{Principal: agentPrincipal(), Role: "writer"}); err != nil {
		t.Errorf("writer: %v", err)
	}
}

func TestBrokerIssuerNotTrusted(t *testing.T) {
	// Tokens from another gatehouse issuer (not registered at STS) are refused.
	e := newSTSEnv(t)
	otherSrv, otherH := startTLS(t)
	other, err := mint.NewIssuer(mint.Config{URL: otherSrv.URL + "/oidc", Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	otherH.set(other.Handler())
	b := e.broker(t, func(c *Config) { c.Issuer = other })
	_, err = b.Credentials(context.Background(), Request{Principal: agentPrincipal(), Role: "reader"})
	var ce *Error
	if !errors.As(err, &ce) || ce.Status != http.StatusForbidden || ce.Role != "reader" {
		t.Fatalf("err = %v, want 403 for role reader", err)
	}
	t.Logf("refused with %s: %s", ce.Code, ce.Reason)
}

func TestWebIdentityModeEndToEnd(t *testing.T) {
	e := newSTSEnv(t)
	b := e.broker(t)
	token, p := e.userToken(t)
	if p.Subject != adaOID || p.Tenant != idpTenant {
		t.Fatalf("principal = %s in %s", p.Subject, p.Tenant)
	}
	s, err := b.Credentials(context.Background(), Request{Principal: p, Role: "entra", Token: token})
	if err != nil {
		t.Fatal(err)
	}
	wantARN := "arn:aws:sts::" + account + ":assumed-role/entra-reader/" + adaOID
	if s.AssumedRoleARN != wantARN || len(s.Tags) != 0 {
		t.Errorf("session = %s tags %v, want %s and no tags", s.AssumedRoleARN, s.Tags, wantARN)
	}
	ci := e.whoAmI(t, s)
	if ci.Arn != wantARN {
		t.Errorf("GetCallerIdentity = %+v", ci)
	}
	assertNoPersonalData(t, "session name", s.SessionName)

	// A token for another audience (an ID token: aud is the CLI) is refused by STS.
	_, err = b.Credentials(context.Background(), Request{Principal: withSubject(p, "aaaaaaaa-0000-4000-8000-00000000000f"), Role: "entra", Token: e.idTokenFor(t)})
	var ce *Error
	if !errors.As(err, &ce) || ce.Status != http.StatusForbidden || ce.Role != "entra" {
		t.Fatalf("wrong-audience token: err = %v, want 403 for role entra", err)
	}
	t.Logf("wrong audience refused with %s", ce.Code)
}

func withSubject(p *authn.Principal, sub string) *authn.Principal {
	c := *p
	c.Subject = sub
	return &c
}

// idTokenFor returns Ada's ID token, whose audience is the CLI app.
func (e *stsEnv) idTokenFor(t testing.TB) string {
	t.Helper()
	conf := &oauth2.Config{ClientID: cliAppID, Scopes: []string{apiScope, "openid"},
		Endpoint: oauth2.Endpoint{TokenURL: e.idpURL + "/" + idpTenant + "/oauth2/v2.0/token", AuthStyle: oauth2.AuthStyleInParams}}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, e.client)
	tok, err := conf.PasswordCredentialsToken(ctx, "ada@contoso.example", adaPass)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := tok.Extra("id_token").(string)
	if id == "" {
		t.Fatal("no id_token")
	}
	return id
}

func TestAssumeRoleModeEndToEnd(t *testing.T) {
	e := newSTSEnv(t)
	// gatehouse's ambient identity: a first web-identity session.
	token, user := e.userToken(t)
	base, err := e.broker(t).Credentials(context.Background(), Request{Principal: user, Role: "entra", Token: token})
	if err != nil {
		t.Fatal(err)
	}
	ambient := sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(e.stsURL), HTTPClient: e.client,
		Credentials: aws.NewCredentialsCache(credentials.StaticCredentialsProvider{Value: base.Credentials})})
	b := e.broker(t, func(c *Config) { c.STS = ambient })

	p := agentPrincipal()
	s, err := b.Credentials(context.Background(), Request{Principal: p, Role: "chained", SessionPolicy: InvokePolicy("arn:aws:lambda:us-east-1:" + account + ":function:f")})
	if err != nil {
		t.Fatal(err)
	}
	wantARN := "arn:aws:sts::" + account + ":assumed-role/gatehouse-chained/" + adaOID
	if s.AssumedRoleARN != wantARN || s.SourceIdentity != Pseudonym(p) {
		t.Errorf("session = %s source identity %q", s.AssumedRoleARN, s.SourceIdentity)
	}
	if !s.Credentials.Expires.Equal(e.clock.Now().Add(15 * time.Minute)) {
		t.Errorf("expires %v, want the role's 15 min", s.Credentials.Expires)
	}
	ci := e.whoAmI(t, s)
	wantTags := map[string]string{"tenant": idpTenant, "kind": "user", "agent": testAgentID}
	if ci.Arn != wantARN || ci.SourceIdentity != Pseudonym(p) || !equalMaps(ci.Tags, wantTags) {
		t.Errorf("GetCallerIdentity = %+v, want %s, %s, %v", ci, wantARN, Pseudonym(p), wantTags)
	}
	if n := e.count("AssumeRole"); n != 1 {
		t.Errorf("AssumeRole calls = %d", n)
	}

	// An ambient identity the trust policy does not name is refused: a
	// broker whose STS client holds another role's session (one without
	// transitive tags, which STS would refuse to override anyway).
	reader, err := e.broker(t).Credentials(context.Background(), Request{Principal: p, Role: "untagged"})
	if err != nil {
		t.Fatal(err)
	}
	wrong := sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(e.stsURL), HTTPClient: e.client,
		Credentials: aws.NewCredentialsCache(credentials.StaticCredentialsProvider{Value: reader.Credentials})})
	_, err = e.broker(t, func(c *Config) { c.STS = wrong }).Credentials(context.Background(), Request{Principal: p, Role: "chained"})
	var ce *Error
	if !errors.As(err, &ce) || ce.Status != 403 || ce.Code != "AccessDenied" || ce.Role != "chained" {
		t.Errorf("AssumeRole from an untrusted identity: err = %v, want 403 AccessDenied for chained", err)
	}
}

func TestCacheHit(t *testing.T) {
	e := newSTSEnv(t)
	b := e.broker(t)
	req := Request{Principal: agentPrincipal(), Role: "reader"}
	first, err := b.Credentials(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		got, err := b.Credentials(context.Background(), req)
		if err != nil || got != first {
			t.Fatalf("repeat: %v, %v; want the cached session", got, err)
		}
	}
	// A fresh Principal value for the same identity (the next request's
	// token) hits too.
	again := agentPrincipal()
	again.TokenID, again.Claims = "another-token", nil
	if got, _ := b.Credentials(context.Background(), Request{Principal: again, Role: "reader"}); got != first {
		t.Error("the same identity in a new Principal missed the cache")
	}
	if n := e.count("AssumeRoleWithWebIdentity"); n != 1 {
		t.Errorf("STS calls = %d, want 1", n)
	}

	// What is not the same session misses: another role, another session
	// policy, another agent, another group tag set, another user.
	miss := []Request{
		{Principal: agentPrincipal(), Role: "writer"},
		{Principal: agentPrincipal(), Role: "reader", SessionPolicy: InvokePolicy("arn:aws:lambda:us-east-1:" + account + ":function:a")},
		{Principal: agentPrincipal(), Role: "reader", SessionPolicy: InvokePolicy("arn:aws:lambda:us-east-1:" + account + ":function:b")},
		{Principal: func() *authn.Principal { p := agentPrincipal(); p.Actors = nil; return p }(), Role: "reader"},
		{Principal: func() *authn.Principal {
			p := agentPrincipal()
			p.Actors = []authn.Actor{{Subject: "other-agent", App: "other-agent", Via: authn.ActorViaAct}}
			return p
		}(), Role: "reader"},
		{Principal: withSubject(agentPrincipal(), "aaaaaaaa-0000-4000-8000-000000000002"), Role: "reader"},
	}
	for i, r := range miss {
		s, err := b.Credentials(context.Background(), r)
		if err != nil {
			t.Fatal(err)
		}
		if s == first {
			t.Errorf("miss[%d] returned the first session", i)
		}
		if n := e.count("AssumeRoleWithWebIdentity"); n != int64(2+i) {
			t.Errorf("after miss[%d]: STS calls = %d, want %d", i, n, 2+i)
		}
	}
}

func TestCacheRefreshBeforeExpiry(t *testing.T) {
	e := newSTSEnv(t)
	b := e.broker(t) // refresh margin 5 min, sessions 1 h
	req := Request{Principal: agentPrincipal(), Role: "reader"}
	first, err := b.Credentials(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Add(time.Hour - 5*time.Minute - time.Second)
	if got, _ := b.Credentials(context.Background(), req); got != first {
		t.Fatal("refreshed before the margin")
	}
	e.clock.Add(time.Second) // now exactly expiry - margin
	fresh, err := b.Credentials(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if fresh == first || fresh.Credentials.AccessKeyID == first.Credentials.AccessKeyID {
		t.Fatal("not refreshed at expiry - margin")
	}
	if !fresh.Credentials.Expires.Equal(e.clock.Now().Add(time.Hour)) {
		t.Errorf("fresh session expires %v", fresh.Credentials.Expires)
	}
	if n := e.count("AssumeRoleWithWebIdentity"); n != 2 {
		t.Errorf("STS calls = %d, want 2", n)
	}
	if got, _ := b.Credentials(context.Background(), req); got != fresh {
		t.Error("the refreshed session is not cached")
	}
}

func TestConcurrentMissesShareOneCall(t *testing.T) {
	e := newSTSEnv(t)
	b := e.broker(t)
	// STS holds the first call until all 100 requests have missed the
	// cache, so they are truly concurrent misses of one key.
	gate := make(chan struct{})
	e.gate.Store(&gate)
	req := Request{Principal: agentPrincipal(), Role: "reader"}
	const n = 100
	var wg sync.WaitGroup
	results := make([]*Session, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { results[i], errs[i] = b.Credentials(context.Background(), req) })
	}
	for b.misses.Load() < n {
		runtime.Gosched()
	}
	close(gate)
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("request %d: %v", i, errs[i])
		}
		if results[i] != results[0] {
			t.Fatalf("request %d got another session", i)
		}
	}
	if got := e.count("AssumeRoleWithWebIdentity"); got != 1 {
		t.Errorf("%d concurrent misses made %d STS calls, want 1", n, got)
	}
}

func TestCacheBound(t *testing.T) {
	e := newSTSEnv(t)
	b := e.broker(t, func(c *Config) { c.CacheEntries = 3 })
	user := func(i int) Request {
		return Request{Principal: withSubject(agentPrincipal(), "aaaaaaaa-0000-4000-8000-00000000010"+string(rune('0'+i))), Role: "reader"}
	}
	ctx := context.Background()
	for i := range 3 {
		if _, err := b.Credentials(ctx, user(i)); err != nil {
			t.Fatal(err)
		}
	}
	b.Credentials(ctx, user(0)) // 0 is now the most recently used; 1 the least
	if _, err := b.Credentials(ctx, user(3)); err != nil {
		t.Fatal(err)
	}
	if n := b.cache.len(); n != 3 {
		t.Errorf("cache holds %d entries, want the bound 3", n)
	}
	calls := e.count("AssumeRoleWithWebIdentity") // 4
	b.Credentials(ctx, user(0))
	b.Credentials(ctx, user(3))
	if got := e.count("AssumeRoleWithWebIdentity"); got != calls {
		t.Errorf("recently used sessions were evicted: %d calls, want %d", got, calls)
	}
	b.Credentials(ctx, user(1))
	if got := e.count("AssumeRoleWithWebIdentity"); got != calls+1 {
		t.Errorf("the least recently used session was kept: %d calls, want %d", got, calls+1)
	}

	// A negative bound disables caching: every request calls STS.
	nc := e.broker(t, func(c *Config) { c.CacheEntries = -1 })
	before := e.count("AssumeRoleWithWebIdentity")
	nc.Credentials(ctx, user(0))
	nc.Credentials(ctx, user(0))
	if got := e.count("AssumeRoleWithWebIdentity"); got != before+2 {
		t.Errorf("uncached broker: %d calls, want %d", got, before+2)
	}
}

func TestSessionPolicyReachesSTS(t *testing.T) {
	e := newSTSEnv(t)
	b := e.broker(t)
	fn := "arn:aws:lambda:us-east-1:" + account + ":function:reports-daily"
	s, err := b.Credentials(context.Background(), Request{Principal: agentPrincipal(), Role: "reader", SessionPolicy: InvokePolicy(fn)})
	if err != nil {
		t.Fatal(err)
	}
	// devkit/sts keeps the session policy with the session: check it
	// through a request signed with the session's credentials.
	req, _ := http.NewRequest("POST", e.stsURL+"/", strings.NewReader("Action=GetCallerIdentity&Version=2011-06-15"))
	got := e.authenticate(t, req, s)
	if got.SessionPolicy != InvokePolicy(fn) {
		t.Errorf("STS session policy = %q, want %q", got.SessionPolicy, InvokePolicy(fn))
	}
}

// authenticate signs req with the session's credentials as the SDK does
// (SigV4, service sts) and asks the local STS whose session it is.
func (e *stsEnv) authenticate(t testing.TB, req *http.Request, s *Session) *localsts.Session {
	t.Helper()
	body, _ := io.ReadAll(req.Body)
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), s.Credentials, req, hex.EncodeToString(sum[:]), "sts", "us-east-1", e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	got, err := e.sts.Authenticate(req, body, "sts")
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	return got
}

func TestIssuerUnreachableIs503(t *testing.T) {
	// STS cannot fetch the issuer's discovery document: IDPCommunicationError
	// from the local STS, which is an outage, not a refusal.
	e := newSTSEnv(t)
	e.issuerH.set(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
	}))
	b := e.broker(t)
	_, err := b.Credentials(context.Background(), Request{Principal: agentPrincipal(), Role: "reader"})
	var ce *Error
	if !errors.As(err, &ce) || ce.Status != http.StatusServiceUnavailable || ce.Code != "IDPCommunicationError" || ce.RetryAfter <= 0 {
		t.Fatalf("err = %v, want 503 IDPCommunicationError with Retry-After", err)
	}
	// The issuer is back; once the local STS may fetch its keys again (as
	// gatehouse, it fetches an issuer's keys at most once per
	// min_refresh_interval, 5 minutes by default) the next request succeeds.
	e.issuerH.set(e.issuer.Handler())
	e.clock.Add(max(ce.RetryAfter, 5*time.Minute))
	if _, err := b.Credentials(context.Background(), Request{Principal: agentPrincipal(), Role: "reader"}); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
}
