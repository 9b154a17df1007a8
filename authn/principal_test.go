package authn

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-dev/gatehouse/internal/testkit"
)

func TestEntraPrincipalShapes(t *testing.T) {
	ks := newKeyServer(t)
	k1, _, _ := testKeys(t)
	ks.addKey("k1", k1, "RS256")
	clock := testkit.NewClock(testStart)
	v1 := ks.entraConfig()
	v1.Name, v1.TokenVersion = "test-v1", "1.0"
	v1.Issuer = ks.srv.URL + "/" + testTenant + "/"
	v1.DiscoveryURL, v1.JWKSURL = "", ks.srv.URL+"/common/discovery/v2.0/keys"
	v := ks.verifier(t, clock, ks.entraConfig(), v1)
	now := clock.Now()

	tests := []struct {
		name string
		edit func(c map[string]any)
		want func(p *Principal) *Principal
	}{
		{"v2 app-only by idtyp", func(c map[string]any) {
			delete(c, "scp")
			c["idtyp"], c["roles"], c["oid"] = "app", []any{"Jobs.Run"}, "c1f3b2a0-2222-4b4b-9e9e-abcdefabcdef"
		}, func(p *Principal) *Principal {
			p.Kind, p.Scopes, p.Roles, p.Subject, p.Actors = KindApp, nil, []string{"Jobs.Run"}, "c1f3b2a0-2222-4b4b-9e9e-abcdefabcdef", nil
			return p
		}},
		{"v2 app-only without idtyp (no scp)", func(c map[string]any) { delete(c, "scp") }, func(p *Principal) *Principal {
			p.Kind, p.Scopes, p.Actors = KindApp, nil, nil
			return p
		}},
		{"group overage", func(c map[string]any) {
			delete(c, "groups")
			c["_claim_names"] = map[string]any{"groups": "src1"}
			c["_claim_sources"] = map[string]any{"src1": map[string]any{"endpoint": "https://graph.windows.net/x/users/y/getMemberObjects"}}
		}, func(p *Principal) *Principal { p.Groups, p.GroupsOverage = nil, true; return p }},
		{"hasgroups", func(c map[string]any) { delete(c, "groups"); c["hasgroups"] = true }, func(p *Principal) *Principal {
			p.Groups, p.GroupsOverage = nil, true
			return p
		}},
		{"RFC 8693 act chain", func(c map[string]any) {
			c["act"] = map[string]any{"sub": "agent:report-writer", "client_id": "agent-app", "act": map[string]any{"sub": "svc:orchestrator"}}
		}, func(p *Principal) *Principal {
			p.Actors = []Actor{{Subject: "agent:report-writer", App: "agent-app", Via: ActorViaAct}, {Subject: "svc:orchestrator", Via: ActorViaAct}}
			return p
		}},
		{"v1 token", func(c map[string]any) {
			c["ver"], c["iss"], c["aud"], c["appid"] = "1.0", ks.srv.URL+"/"+testTenant+"/", testAPIURI+"/", testClient
			delete(c, "azp")
		}, func(p *Principal) *Principal {
			p.IssuerName, p.Issuer, p.TokenVersion = "test-v1", ks.srv.URL+"/"+testTenant+"/", "1.0"
			return p
		}},
	}
	base := func() *Principal {
		return &Principal{
			IssuerName: "test", Issuer: ks.issuer(), Subject: testUserOID, Tenant: testTenant, Kind: KindUser, App: testClient,
			Roles: []string{"Functions.Reader"}, Scopes: []string{"access_as_user", "Functions.Invoke"},
			Actors: []Actor{{Subject: testClient, App: testClient, Via: ActorViaClient}}, TokenID: "fqiBqXLPj0eQa82S-IYFAA", TokenVersion: "2.0",
			IssuedAt: time.Unix(now.Unix(), 0), NotBefore: time.Unix(now.Unix(), 0), Expiry: time.Unix(now.Add(time.Hour).Unix(), 0),
		}
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := entraClaims(ks.issuer(), now)
			tc.edit(c)
			p, err := v.Verify(bg, sign(t, hdr("RS256", "k1"), mustJSON(t, c), "RS256", k1))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			want := tc.want(base())
			if want.Groups == nil && !want.GroupsOverage {
				want.Groups = p.Groups
			}
			if !want.GroupsOverage && len(p.Groups) != 10 {
				t.Errorf("groups = %v", p.Groups)
			}
			got := *p
			got.Claims = nil
			if want.Groups == nil && !want.GroupsOverage {
				got.Groups = nil
			} else if !want.GroupsOverage {
				want.Groups = got.Groups
			}
			if d := cmp.Diff(want, &got); d != "" {
				t.Errorf("principal (-want +got):\n%s", d)
			}
		})
	}
}

func TestOIDCPrincipal(t *testing.T) {
	ks := newKeyServer(t)
	k1, _, _ := testKeys(t)
	ks.addKey("k1", k1, "RS256")
	clock := testkit.NewClock(testStart)
	iss := ks.srv.URL + "/" + testTenant + "/v2.0" // any https issuer whose discovery ks serves
	cfg := IssuerConfig{
		Name: "okta", Type: TypeOIDC, Issuer: iss, Audiences: []string{"api://jobs"},
		Claims: ClaimNames{Groups: "grp", Tenant: "org"},
	}
	v := ks.verifier(t, clock, cfg)
	now := clock.Now()
	c := map[string]any{
		"iss": iss, "sub": "00u1", "aud": []any{"api://jobs"}, "exp": now.Add(time.Hour).Unix(), "iat": now.Unix(),
		"client_id": "cli", "scope": "jobs.run jobs.read", "grp": []any{"ops"}, "org": "acme", "jti": "j1",
	}
	p, err := v.Verify(bg, sign(t, hdr("RS256", "k1"), mustJSON(t, c), "RS256", k1))
	if err != nil {
		t.Fatal(err)
	}
	if p.Subject != "00u1" || p.Tenant != "acme" || p.App != "cli" || p.Kind != KindUser || !p.InGroup("ops") || !p.HasScope("jobs.run") || p.TokenID != "j1" {
		t.Errorf("principal = %+v", p)
	}
	// RFC 9068 client-credentials token: sub is the client.
	c["sub"] = "cli"
	p, err = v.Verify(bg, sign(t, hdr("RS256", "k1"), mustJSON(t, c), "RS256", k1))
	if err != nil || p.Kind != KindApp {
		t.Fatalf("client token: %v, kind %v", err, p)
	}
}

func TestBearerToken(t *testing.T) {
	tests := []struct {
		name, header, query string
		want                string
		wantErr             bool
	}{
		{"ok", "Bearer abc.def.ghi", "", "abc.def.ghi", false},
		{"scheme any case", "bEARER abc.def.ghi", "", "abc.def.ghi", false},
		{"missing", "", "", "", true},
		{"basic", "Basic dXNlcjpwYXNz", "", "", true},
		{"two spaces", "Bearer  abc", "", "", true},
		{"bad chars", "Bearer abc def", "", "", true},
		{"query token", "", "access_token=abc", "", true},
		{"padding in the middle", "Bearer ab=c", "", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/x?"+tc.query, nil)
			if tc.header != "" {
				r.Header.Set("Authorization", tc.header)
			}
			got, err := BearerToken(r)
			if (err != nil) != tc.wantErr || string(got) != tc.want {
				t.Fatalf("BearerToken = %q, %v; want %q, err %v", got, err, tc.want, tc.wantErr)
			}
			if err != nil && AsError(err).Kind != InvalidRequest {
				t.Fatalf("kind = %v", AsError(err).Kind)
			}
		})
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Add("Authorization", "Bearer a")
	r.Header.Add("Authorization", "Bearer b")
	if _, err := BearerToken(r); err == nil {
		t.Fatal("two Authorization headers accepted")
	}
}
