package creds

import (
	"log/slog"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/authn"
)

// The test directory: an Entra tenant, a user, an agent and groups.
const (
	testTenant  = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	testUserOID = "690222be-ff1a-4d56-abd1-7e4f7d38e474"
	testAppID   = "6e74172b-be56-4843-9ff4-e66a39bb12e3" // calling client
	testAgentID = "0b8d4c43-7a2b-4b6f-9d38-1d1b7b5f0a11" // agent acting for the user
	groupOps    = "11111111-2222-4333-8444-555555555501"
	groupAdmins = "11111111-2222-4333-8444-555555555502"
	groupOther  = "11111111-2222-4333-8444-555555555503"
	testIssuer  = "https://login.microsoftonline.com/" + testTenant + "/v2.0"
)

// personal is the personal data in testPrincipal's claims that must never
// reach a token, session name, source identity or tag. (Long enough that a
// random token id or signature cannot contain one by chance.)
var personal = []string{"Ada Lovelace", "Lovelace", "ada@contoso.example", "ada.lovelace@contoso.example", "contoso.example"}

func testPrincipal() *authn.Principal {
	return &authn.Principal{
		IssuerName: "entra",
		Issuer:     testIssuer,
		Subject:    testUserOID,
		Tenant:     testTenant,
		Kind:       authn.KindUser,
		App:        testAppID,
		Groups:     []string{groupOps, groupAdmins, groupOther},
		Actors:     []authn.Actor{{Subject: testAgentID, App: testAgentID, Via: authn.ActorViaClient}},
		Claims: map[string]any{
			"oid": testUserOID, "tid": testTenant, "sub": "HKZpfaHyWadeOouYlitjrI-KffTm222X5rrV3xDqfKQ",
			"name": "Ada Lovelace", "preferred_username": "ada@contoso.example",
			"upn": "ada@contoso.example", "email": "ada.lovelace@contoso.example",
		},
	}
}

func assertNoPersonalData(t *testing.T, what, s string) {
	t.Helper()
	for _, p := range personal {
		if strings.Contains(strings.ToLower(s), strings.ToLower(p)) {
			t.Errorf("%s contains personal data %q: %s", what, p, s)
		}
	}
}

func TestSessionName(t *testing.T) {
	entra := testPrincipal()
	tests := []struct {
		name string
		p    *authn.Principal
		want string // "" means: the pseudonym
	}{
		{"entra object id is used as is", entra, testUserOID},
		{"upper-case object id is lower-cased", &authn.Principal{Issuer: testIssuer, Tenant: testTenant, Subject: strings.ToUpper(testUserOID)}, testUserOID},
		{"app principal: service principal object id", &authn.Principal{Issuer: testIssuer, Tenant: testTenant, Subject: testAppID, Kind: authn.KindApp}, testAppID},
		{"email subject becomes the pseudonym, though it fits the charset", &authn.Principal{Issuer: "https://idp.example", Subject: "ada@contoso.example"}, ""},
		{"email subject with a tenant becomes the pseudonym", &authn.Principal{Issuer: testIssuer, Tenant: testTenant, Subject: "ada@contoso.example"}, ""},
		{"GUID subject without a tenant is not known to be an object id", &authn.Principal{Issuer: "https://idp.example", Subject: testUserOID}, ""},
		{"subject with spaces and slashes", &authn.Principal{Issuer: "https://idp.example", Subject: "CN=Ada Lovelace/O=Contoso"}, ""},
		{"one-character subject", &authn.Principal{Issuer: "https://idp.example", Subject: "a"}, ""},
		{"subject over 64 characters", &authn.Principal{Issuer: "https://idp.example", Subject: strings.Repeat("x", 100)}, ""},
		{"non-ASCII subject", &authn.Principal{Issuer: "https://idp.example", Subject: "adá\u202e"}, ""},
		{"malformed GUID", &authn.Principal{Issuer: testIssuer, Tenant: testTenant, Subject: "690222be-ff1a-4d56-abd1-7e4f7d38e47g"}, ""},
		{"auth0-style subject", &authn.Principal{Issuer: "https://idp.example", Subject: "auth0|5f7c8ec7c33c6c004bbafe82"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := sessionName(tt.p)
			want := tt.want
			if want == "" {
				want = Pseudonym(tt.p)
			}
			if got != want {
				t.Errorf("sessionName = %q, want %q", got, want)
			}
			if !validSessionName(got) {
				t.Errorf("sessionName = %q: not a valid RoleSessionName", got)
			}
			assertNoPersonalData(t, "session name", got)
		})
	}
}

func TestValidSessionName(t *testing.T) {
	tests := []struct {
		s    string
		want bool
	}{
		{"ab", true},
		{"a", false},
		{"", false},
		{strings.Repeat("a", 64), true},
		{strings.Repeat("a", 65), false},
		{"user+tag=x,y.z@w-v_u", true},
		{"has space", false},
		{"slash/no", false},
		{"colon:no", false},
		{"é-accent", false},
	}
	for _, tt := range tests {
		if got := validSessionName(tt.s); got != tt.want {
			t.Errorf("validSessionName(%q) = %v, want %v", tt.s, got, tt.want)
		}
	}
}

func TestPseudonym(t *testing.T) {
	p := testPrincipal()
	ps := Pseudonym(p)
	if len(ps) != 22 || !validSessionName(ps) || strings.HasPrefix(ps, "aws:") {
		t.Fatalf("Pseudonym = %q: want 22 characters valid as a session name and source identity", ps)
	}
	assertNoPersonalData(t, "pseudonym", ps)

	v1 := *p
	v1.Issuer, v1.IssuerName, v1.TokenVersion = "https://sts.windows.net/"+testTenant+"/", "entra-v1", "1.0"
	if got := Pseudonym(&v1); got != ps {
		t.Errorf("v1.0 token of the same user: Pseudonym = %q, want %q (tenant and object id decide)", got, ps)
	}
	upper := *p
	upper.Tenant, upper.Subject = strings.ToUpper(p.Tenant), strings.ToUpper(p.Subject)
	if got := Pseudonym(&upper); got != ps {
		t.Errorf("upper-case GUIDs: Pseudonym = %q, want %q", got, ps)
	}
	other := *p
	other.Subject = "690222be-ff1a-4d56-abd1-7e4f7d38e475"
	if Pseudonym(&other) == ps {
		t.Error("another object id has the same pseudonym")
	}
	otherTenant := *p
	otherTenant.Tenant = "72f988bf-86f1-41af-91ab-2d7cd011db48"
	if Pseudonym(&otherTenant) == ps {
		t.Error("the same object id in another tenant has the same pseudonym")
	}
	a := &authn.Principal{Issuer: "https://a.example", Subject: "u1"}
	b := &authn.Principal{Issuer: "https://b.example", Subject: "u1"}
	if Pseudonym(a) == Pseudonym(b) {
		t.Error("one subject at two issuers without tenant has the same pseudonym")
	}
	// A principal without tenant whose issuer and subject spell a tenant
	// and object id must not collide with that Entra principal.
	spoof := &authn.Principal{Issuer: testTenant, Subject: testUserOID}
	if Pseudonym(spoof) == ps {
		t.Error("issuer/subject principal collides with tenant/object id principal")
	}
}

func TestSubject(t *testing.T) {
	p := testPrincipal()
	got := subject("reader", p)
	if want := "role:reader:" + Pseudonym(p); got != want {
		t.Fatalf("subject = %q, want %q", got, want)
	}
	if n := len(got); n < 6 || n > 255 {
		t.Errorf("subject length %d: STS wants 6–255", n)
	}
	// The longest role name still fits.
	if n := len(subject(strings.Repeat("r", 64), p)); n > 255 {
		t.Errorf("subject with a 64-character role is %d characters", n)
	}
}

func TestTagValue(t *testing.T) {
	tests := []struct {
		name, in string
		same     bool // passes unchanged
	}{
		{"GUID", testTenant, true},
		{"kind", "user", true},
		{"allowed punctuation and space", "a_b.c:d/e=f+g-h@i j", true},
		{"letters and digits of other scripts", "Ünïcødé-名前-٣", true},
		{"empty", "", true},
		{"256 characters", strings.Repeat("v", 256), true},
		{"257 characters", strings.Repeat("v", 257), false},
		{"pipe", "auth0|abc", false},
		{"comma", "a,b", false},
		{"control character", "a\nb", false},
		{"bidi override", "abc\u202edef", false},
		{"invalid UTF-8", "a\xffb", false},
		{"reserved prefix", "h:abc", false},
	}
	seen := map[string]string{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tagValue(tt.in)
			if (got == tt.in) != tt.same {
				t.Errorf("tagValue(%q) = %q; unchanged = %v, want %v", tt.in, got, got == tt.in, tt.same)
			}
			if !validTagValue(got) {
				t.Errorf("tagValue(%q) = %q: not a valid tag value", tt.in, got)
			}
			if n := utf8.RuneCountInString(got); n > 256 {
				t.Errorf("tagValue(%q) has %d characters", tt.in, n)
			}
			if prev, ok := seen[got]; ok {
				t.Errorf("tagValue(%q) = tagValue(%q) = %q", tt.in, prev, got)
			}
			seen[got] = tt.in
		})
	}
	// A rewritten value never equals a value that passes unchanged.
	rewritten := tagValue("a|b")
	if tagValue(rewritten) == rewritten {
		t.Errorf("a rewritten value %q passes unchanged: another principal could present it", rewritten)
	}
	if !strings.HasSuffix(rewritten, ":a_b") {
		t.Errorf("tagValue(%q) = %q: want the readable form after the hash", "a|b", rewritten)
	}
}

func TestTags(t *testing.T) {
	groupTags := map[string]string{groupOps: "ops", strings.ToUpper(groupAdmins): "admins", "99999999-0000-4000-8000-000000000009": "unused"}
	tests := []struct {
		name   string
		role   Role
		p      func(*authn.Principal)
		want   []tag
		errSub string
	}{
		{name: "default: tenant, kind, agent", role: Role{},
			want: []tag{{"tenant", testTenant}, {"kind", "user"}, {"agent", testAgentID}}},
		{name: "no agent: tag left out", role: Role{}, p: func(p *authn.Principal) { p.Actors = nil },
			want: []tag{{"tenant", testTenant}, {"kind", "user"}}},
		{name: "app principal without tenant", role: Role{}, p: func(p *authn.Principal) { p.Tenant, p.Kind, p.Actors = "", authn.KindApp, nil },
			want: []tag{{"kind", "app"}}},
		{name: "all facts in fixed order", role: Role{SessionTags: []string{"groups", "app", "agent", "kind", "tenant"}, GroupTags: groupTags},
			want: []tag{{"tenant", testTenant}, {"kind", "user"}, {"agent", testAgentID}, {"app", testAppID}, {"groups", ":admins:ops:"}}},
		{name: "only chosen groups", role: Role{SessionTags: []string{"groups"}, GroupTags: map[string]string{groupOps: "ops"}},
			want: []tag{{"groups", ":ops:"}}},
		{name: "group overage: membership unknown, no tag", role: Role{SessionTags: []string{"groups"}, GroupTags: groupTags},
			p:    func(p *authn.Principal) { p.Groups, p.GroupsOverage = nil, true },
			want: []tag{}},
		{name: "none chosen", role: Role{SessionTags: []string{}}, want: []tag{}},
		{name: "agent with characters outside the tag set", role: Role{SessionTags: []string{"agent"}},
			p:    func(p *authn.Principal) { p.Actors = []authn.Actor{{Subject: "spiffe://x|y", Via: authn.ActorViaAct}} },
			want: []tag{{"agent", tagValue("spiffe://x|y")}}},
		{name: "unknown fact", role: Role{SessionTags: []string{"email"}}, errSub: `unknown session tag "email"`},
		{name: "groups without GroupTags", role: Role{SessionTags: []string{"groups"}}, errSub: "needs GroupTags"},
		{name: "group name with a colon", role: Role{SessionTags: []string{"groups"}, GroupTags: map[string]string{groupOps: "a:b"}}, errSub: "group tag name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := tt.role
			rc.Name, rc.ARN = "reader", "arn:aws:iam::123456789012:role/gatehouse-reader"
			r, err := compileRole(rc)
			if tt.errSub != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errSub) {
					t.Fatalf("compileRole: err = %v, want one containing %q", err, tt.errSub)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			pp := testPrincipal()
			if tt.p != nil {
				tt.p(pp)
			}
			got := r.tags(pp)
			if len(got) != len(tt.want) {
				t.Fatalf("tags = %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("tags[%d] = %v, want %v", i, got[i], tt.want[i])
				}
				if !validTagKey(got[i].Key) || !validTagValue(got[i].Value) {
					t.Errorf("tag %v breaks STS's rules", got[i])
				}
				assertNoPersonalData(t, "tag", got[i].Value)
			}
		})
	}
}

// testLogger sends the package's logs to the test's output; benchmarks
// discard them.
func testLogger(t testing.TB) *slog.Logger {
	if _, ok := t.(*testing.B); ok {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}
