package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// minimal is the smallest valid configuration: one OIDC issuer.
const minimal = `authn:
  issuers:
    - name: corp
      type: oidc
      issuer: https://idp.example.com
      audiences: [api://corp]
`

// problemStrings returns each problem of err as "line:col: field: msg".
func problemStrings(err error) []string {
	var out []string
	for _, p := range Problems(err) {
		out = append(out, fmt.Sprintf("%d:%d: %s: %s", p.Line, p.Column, p.Field, p.Msg))
	}
	return out
}

func TestParseMinimalAppliesDefaults(t *testing.T) {
	f, err := Parse("gatehouse.yaml", []byte(minimal))
	if err != nil {
		t.Fatalf("Parse(minimal) = %v", err)
	}
	want := &File{
		AuthN: AuthN{
			MaxTokenBytes: 16384,
			CacheEntries:  10000,
			Issuers: []Issuer{{
				Name:               "corp",
				Type:               IssuerOIDC,
				Issuer:             "https://idp.example.com",
				Audiences:          []string{"api://corp"},
				Algorithms:         []string{"RS256"},
				Leeway:             60 * time.Second,
				MaxLifetime:        24 * time.Hour,
				RefreshInterval:    time.Hour,
				MinRefreshInterval: 5 * time.Minute,
				MaxKeyAge:          24 * time.Hour,
			}},
		},
		Audit:   Audit{Sink: "sqlite", Mode: "sync", OnUnavailable: "fail_closed"},
		Secrets: Secrets{RefreshInterval: 5 * time.Minute, MaxAge: 24 * time.Hour},
		Creds:   Creds{Mode: ModeBroker, Duration: time.Hour, SessionTags: []string{"tenant", "kind", "agent"}, CacheEntries: 10000},
		Dev: Dev{
			IDP:      IDP{Listen: "127.0.0.1:9443", TLS: new(true), TokenLifetime: time.Hour},
			STS:      DevSTS{Listen: "127.0.0.1:9444"},
			Lambda:   DevLambda{Listen: "127.0.0.1:9445"},
			Gateway:  "127.0.0.1:9480",
			Upstream: "127.0.0.1:9446",
			KeyVault: DevKeyVault{Listen: "127.0.0.1:9448"},
		},
	}
	if diff := cmp.Diff(want, f); diff != "" {
		t.Errorf("Parse(minimal) mismatch (-want +got):\n%s", diff)
	}
}

func TestParseKeepsExplicitValues(t *testing.T) {
	f, err := Parse("gatehouse.yaml", []byte(minimal+`      leeway: 90s
      algorithms: [ES256, EdDSA]
  cache_entries: -1
  max_token_bytes: 4096
dev:
  idp:
    tls: false
    listen: localhost:0
`))
	if err != nil {
		t.Fatalf("Parse = %v", err)
	}
	is := f.AuthN.Issuers[0]
	if is.Leeway != 90*time.Second || !cmp.Equal(is.Algorithms, []string{"ES256", "EdDSA"}) {
		t.Errorf("issuer = leeway %v algorithms %v, want 90s [ES256 EdDSA]", is.Leeway, is.Algorithms)
	}
	if f.AuthN.CacheEntries != -1 || f.AuthN.MaxTokenBytes != 4096 {
		t.Errorf("authn = cache %d max %d, want -1 4096", f.AuthN.CacheEntries, f.AuthN.MaxTokenBytes)
	}
	if f.Dev.IDP.TLSEnabled() || f.Dev.IDP.Listen != "localhost:0" {
		t.Errorf("idp = tls %v listen %q, want false localhost:0", f.Dev.IDP.TLSEnabled(), f.Dev.IDP.Listen)
	}
}

func TestParseEntraDefaults(t *testing.T) {
	for _, tt := range []struct {
		authority, want string
	}{
		{"https://login.microsoftonline.com", "https://sts.windows.net/{tenantid}/"},
		{"https://login.microsoftonline.us", "https://login.microsoftonline.us/{tenantid}/"},
		{"dev", ""}, // the CLI sets it once the IdP listens
	} {
		f, err := Parse("gatehouse.yaml", []byte(`authn:
  issuers:
    - name: entra
      type: entra
      entra:
        authority: `+tt.authority+`
        tenant: organizations
        tenants: ["*"]
        versions: ["1.0", "2.0"]
      audiences: [api://x]
`))
		if err != nil {
			t.Fatalf("Parse(authority %s) = %v", tt.authority, err)
		}
		if got := f.AuthN.Issuers[0].Entra.V1Issuer; got != tt.want {
			t.Errorf("authority %s: v1_issuer = %q, want %q", tt.authority, got, tt.want)
		}
	}
}

// TestParseProblems checks that each mistake is reported with its field,
// line and column. Line and column are 1-based.
func TestParseProblems(t *testing.T) {
	for _, tt := range []struct {
		name string
		yaml string
		want []string // "line:col: field: message prefix"
	}{
		{
			name: "misspelt key in a list item",
			yaml: `authn:
  issuers:
    - name: corp
      type: oidc
      issuer: https://idp.example.com
      audience: [api://corp]
`,
			want: []string{
				"3:7: authn.issuers[0].audiences: at least one audience is required",
				`6:7: authn.issuers[0].audience: unknown field "audience" (did you mean "audiences"?)`,
			},
		},
		{
			name: "unknown section",
			yaml: minimal + "metrics: {}\n",
			want: []string{`7:1: metrics: unknown field "metrics"`},
		},
		{
			name: "unknown key inside entra section",
			yaml: `authn:
  issuers:
    - name: e
      type: entra
      entra: {authority: dev, tenant: common, tenants: ["*"], tenant_id: x}
      audiences: [a]
`,
			want: []string{`5:63: authn.issuers[0].entra.tenant_id: unknown field "tenant_id" (did you mean "tenant"?)`},
		},
		{
			name: "wrong kinds",
			yaml: `authn:
  max_token_bytes: big
  issuers: corp
`,
			want: []string{
				"2:20: authn.max_token_bytes: must be a whole number, not a string",
				"3:12: authn.issuers: must be a list, not a string",
			},
		},
		{
			name: "duration without unit",
			yaml: minimal + "      leeway: 30\n",
			want: []string{`7:15: authn.issuers[0].leeway: a duration needs a unit`},
		},
		{
			name: "bad duration",
			yaml: minimal + "      max_lifetime: 1 day\n",
			want: []string{`7:21: authn.issuers[0].max_lifetime: invalid duration "1 day"`},
		},
		{
			name: "duplicate key",
			yaml: minimal + "      name: other\n",
			want: []string{`7:7: authn.issuers[0].name: duplicate key "name" (first at line 3)`},
		},
		{
			name: "alg none and HMAC refused",
			yaml: minimal + "      algorithms: [RS256, none, HS256]\n",
			want: []string{
				`7:27: authn.issuers[0].algorithms[1]: "none" is refused`,
				`7:33: authn.issuers[0].algorithms[2]: "HS256" is refused: HMAC`,
			},
		},
		{
			name: "unknown algorithm",
			yaml: minimal + "      algorithms: [RS257]\n",
			want: []string{`7:20: authn.issuers[0].algorithms[0]: unknown algorithm "RS257"`},
		},
		{
			name: "issuer names unique",
			yaml: minimal + `    - name: corp
      type: oidc
      issuer: https://other.example.com
      audiences: [x]
`,
			want: []string{`7:7: authn.issuers[1].name: issuer name "corp" is already used by authn.issuers[0]`},
		},
		{
			name: "issuer name shape",
			yaml: strings.Replace(minimal, "name: corp", "name: Corp_1", 1),
			want: []string{`3:7: authn.issuers[0].name: must be lower-case letters`},
		},
		{
			name: "no issuers",
			yaml: "authn:\n  max_token_bytes: 2048\n",
			want: []string{`1:1: authn.issuers: at least one issuer is required`},
		},
		{
			name: "unknown issuer type",
			yaml: strings.Replace(minimal, "type: oidc", "type: saml", 1),
			want: []string{`4:7: authn.issuers[0].type: unknown issuer type "saml"`},
		},
		{
			name: "oidc issuer must be https",
			yaml: strings.Replace(minimal, "https://idp.example.com", "http://idp.example.com", 1),
			want: []string{`5:7: authn.issuers[0].issuer: must use https`},
		},
		{
			name: "oidc issuer without query",
			yaml: strings.Replace(minimal, "https://idp.example.com", "https://idp.example.com?x=1", 1),
			want: []string{`5:7: authn.issuers[0].issuer: must not have a query`},
		},
		{
			name: "entra fields on an oidc issuer",
			yaml: minimal + "      entra: {authority: dev, tenant: common}\n",
			want: []string{`7:7: authn.issuers[0].entra: is only for type entra`},
		},
		{
			name: "entra without entra section",
			yaml: `authn:
  issuers:
    - name: e
      type: entra
      issuer: https://x.example.com
      audiences: [a]
`,
			want: []string{
				`3:7: authn.issuers[0].entra: is required for type entra`,
				`5:7: authn.issuers[0].issuer: is only for type oidc`,
			},
		},
		{
			name: "multi-tenant entra without tenants",
			yaml: `authn:
  issuers:
    - name: e
      type: entra
      entra:
        authority: https://login.microsoftonline.com
        tenant: organizations
      audiences: [a]
`,
			want: []string{`5:7: authn.issuers[0].entra.tenants: is required with tenant "organizations"`},
		},
		{
			name: "single-tenant entra with tenants",
			yaml: `authn:
  issuers:
    - name: e
      type: entra
      entra:
        authority: https://login.microsoftonline.com/
        tenant: 2e3fd419-1fb6-41f4-a9a1-60531a867149
        tenants: ["*"]
        versions: ["2.0", "3.0"]
      audiences: [a]
`,
			want: []string{
				`6:9: authn.issuers[0].entra.authority: must be "dev" or an https URL with no path`,
				`8:9: authn.issuers[0].entra.tenants: is only for tenant organizations or common`,
				`9:27: authn.issuers[0].entra.versions[1]: must be "1.0" or "2.0"`,
			},
		},
		{
			name: "authority dev needs the tenant in dev.idp",
			yaml: `authn:
  issuers:
    - name: e
      type: entra
      entra: {authority: dev, tenant: 2e3fd419-1fb6-41f4-a9a1-60531a867149}
      audiences: [a]
`,
			want: []string{`5:31: authn.issuers[0].entra.tenant: authority "dev" needs this tenant under dev.idp.tenants`},
		},
		{
			name: "refresh intervals ordered",
			yaml: minimal + "      refresh_interval: 10m\n      min_refresh_interval: 20m\n      max_key_age: 5m\n      leeway: 6m\n",
			want: []string{
				`8:7: authn.issuers[0].min_refresh_interval: must not exceed refresh_interval (10m)`,
				`9:7: authn.issuers[0].max_key_age: must be at least refresh_interval (10m)`,
				`10:7: authn.issuers[0].leeway: must be between 0s and 5m`,
			},
		},
		{
			name: "token size out of range",
			yaml: "authn:\n  max_token_bytes: 100\n  cache_entries: -2\n" + minimal[len("authn:\n"):],
			want: []string{
				`2:3: authn.max_token_bytes: must be between 1024 and 1048576`,
				`3:3: authn.cache_entries: must be a positive number of entries, or -1`,
			},
		},
		{
			name: "dev listen not loopback",
			yaml: minimal + "dev:\n  idp:\n    listen: 0.0.0.0:9443\n    token_lifetime: 1m\n",
			want: []string{
				`9:5: dev.idp.listen: host "0.0.0.0" must be localhost or a loopback address`,
				`10:5: dev.idp.token_lifetime: must be between 5m and 24h`,
			},
		},
		{
			name: "bool of the wrong kind",
			yaml: minimal + "dev:\n  idp:\n    tls: yes\n",
			want: []string{`9:10: dev.idp.tls: must be true or false, not a string`},
		},
		{
			name: "map of the wrong kind",
			yaml: minimal + "dev:\n  idp:\n    tenants:\n      - id: 2e3fd419-1fb6-41f4-a9a1-60531a867149\n        users:\n          - {id: 1ee840e4-61de-4634-b1e6-1e29799b084f, upn: a@b, password: x, app_roles: [x]}\n",
			want: []string{`12:90: dev.idp.tenants[0].users[0].app_roles: must be a mapping, not a list`},
		},
		{
			name: "anchors and aliases refused",
			yaml: minimal + "      types: &t [at+jwt]\n      allowed_apps: *t\n",
			want: []string{
				`7:14: authn.issuers[0].types: anchors (&t) are not supported`,
				`8:21: authn.issuers[0].allowed_apps: aliases (*t) are not supported`,
			},
		},
		{
			name: "merge key refused",
			yaml: minimal + "      <<: {leeway: 1s}\n",
			want: []string{`7:7: authn.issuers[0]: merge keys (<<) are not supported`},
		},
		{
			name: "tag refused",
			yaml: minimal + "      ca_file: !!str x\n",
			want: []string{`7:16: authn.issuers[0].ca_file: tags (!!str) are not supported`},
		},
		{
			name: "complex key refused",
			yaml: minimal + "      ? leeway\n      : 1s\n",
			want: []string{`7:7: authn.issuers[0]: keys must be plain strings, not an explicit key (?)`},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse("gatehouse.yaml", []byte(tt.yaml))
			if err == nil {
				t.Fatalf("Parse = %+v, nil; want problems %q", f, tt.want)
			}
			if f != nil {
				t.Errorf("Parse returned a File with error %v", err)
			}
			got := problemStrings(err)
			if len(got) != len(tt.want) {
				t.Fatalf("Parse: got %d problems, want %d:\n%s", len(got), len(tt.want), strings.Join(got, "\n"))
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tt.want[i]) {
					t.Errorf("problem %d = %q, want prefix %q", i, got[i], tt.want[i])
				}
			}
		})
	}
}

// TestParseReportsEveryProblem checks that problems of every kind come
// together, in file order, rather than one per run.
func TestParseReportsEveryProblem(t *testing.T) {
	in := `authn:
  issuers:
    - name: corp
      type: oidc
      issuer: https://idp.example.com
      audiences: [api://corp]
      algorithms: [HS256]
      leeway: forever
    - name: corp
      type: oidc
      issuer: https://idp2.example.com
      audiences: [api://corp]
`
	_, err := Parse("gatehouse.yaml", []byte(in))
	want := []string{
		`gatehouse.yaml:7:20: authn.issuers[0].algorithms[0]: "HS256" is refused`,
		`gatehouse.yaml:8:15: authn.issuers[0].leeway: invalid duration "forever"`,
		`gatehouse.yaml:9:7: authn.issuers[1].name: issuer name "corp" is already used`,
	}
	ps := Problems(err)
	if len(ps) != len(want) {
		t.Fatalf("Parse: got %d problems, want %d:\n%v", len(ps), len(want), err)
	}
	lines := strings.Split(err.Error(), "\n")
	for i, p := range ps {
		if !strings.HasPrefix(p.Error(), want[i]) || lines[i] != p.Error() {
			t.Errorf("problem %d = %q (line %q), want prefix %q", i, p, lines[i], want[i])
		}
	}
}

// TestParseUnknownFieldMessage pins the exact form of the most common
// mistake's message.
func TestParseUnknownFieldMessage(t *testing.T) {
	in := `# gatehouse configuration
authn:
  max_token_bytes: 16384
  issuers:
    - name: other
      type: oidc
      issuer: https://other.example.com
      audiences: [x]
    - name: corp
      type: oidc
      issuer: https://idp.example.com
      audience: api://corp
      audiences: [api://corp]
`
	_, err := Parse("gatehouse.yaml", []byte(in))
	const want = `gatehouse.yaml:12:7: authn.issuers[1].audience: unknown field "audience" (did you mean "audiences"?)`
	if err == nil || err.Error() != want {
		t.Errorf("Parse = %v, want %s", err, want)
	}
	var p *Problem
	if !errors.As(err, &p) || p.Field != "authn.issuers[1].audience" || p.Line != 12 || p.Column != 7 {
		t.Errorf("errors.As(err, *Problem) = %+v, want field authn.issuers[1].audience at 12:7", p)
	}
}

func TestParseMalformed(t *testing.T) {
	for _, tt := range []struct {
		name, yaml, want string
	}{
		{"empty", "", "gatehouse.yaml: the file is empty"},
		{"only comments", "# nothing\n\n", "gatehouse.yaml: the file is empty"},
		{"only a document marker", "---\n", "gatehouse.yaml: the file is empty"},
		{"null document", "~\n", "gatehouse.yaml: the file is empty"},
		{"list document", "- authn\n", "gatehouse.yaml:1:1: the configuration must be a mapping of sections (authn:, dev:), not a list"},
		{"scalar document", "authn\n", "gatehouse.yaml:1:1: the configuration must be a mapping of sections (authn:, dev:), not a string"},
		{"two documents", minimal + "---\nauthn: {}\n", "gatehouse.yaml:7:1: a configuration file holds one YAML document"},
		{"syntax error", "authn:\n  issuers: [a\n", "gatehouse.yaml:2:"},
		{"tab indentation", "authn:\n\tissuers: []\n", "gatehouse.yaml:2:1: invalid YAML"},
		{"too large", minimal + "#" + strings.Repeat("x", MaxFileSize), "gatehouse.yaml: the file is larger than 1048576 bytes"},
		{"deep flow nesting", "a: " + strings.Repeat("[", 100), "gatehouse.yaml:1:"},
		{"deep block nesting", strings.Repeat("- ", 100) + "x", "gatehouse.yaml:1:"},
		{"deep indentation", deepIndent(100), "gatehouse.yaml:65:"},
		{"too many keys", manyKeys(maxKeys + 1), "gatehouse.yaml:1002:3: a mapping has more than 1000 keys"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse("gatehouse.yaml", []byte(tt.yaml))
			if err == nil || f != nil {
				t.Fatalf("Parse = %v, %v; want error %q", f, err, tt.want)
			}
			if ps := Problems(err); len(ps) != 1 {
				t.Errorf("Parse: got %d problems, want 1: %v", len(ps), err)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("Parse = %q, want prefix %q", err, tt.want)
			}
		})
	}
}

func manyKeys(n int) string {
	var b strings.Builder
	b.WriteString("authn:\n")
	for i := range n {
		fmt.Fprintf(&b, "  k%d: x\n", i)
	}
	return b.String()
}

func deepIndent(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "%sk%d:\n", strings.Repeat(" ", i), i)
	}
	return b.String()
}

// TestParseLimitsFitConfig checks that the key and nesting limits leave
// room for the largest mapping and the deepest real configuration, written
// in either style.
func TestParseLimitsFitConfig(t *testing.T) {
	_, err := Parse("gatehouse.yaml", []byte(manyKeys(maxKeys)))
	if ps := Problems(err); len(ps) != maxKeys+1 || !strings.Contains(ps[1].Msg, "unknown field") {
		t.Errorf("Parse(%d keys) = %d problems, want %d unknown keys and no issuer", maxKeys, len(ps), maxKeys)
	}

	deep := minimal + `dev:
  idp:
    tenants:
      - id: 2e3fd419-1fb6-41f4-a9a1-60531a867149
        apps:
          - name: a
            client_id: 68e96204-b89d-4992-9e0e-90cc31a67403
            object_id: d3f7953b-28af-477f-9ed8-09ea39dc5086
            scopes: [s]
            app_roles:
              - value: r
                member_types:
                  - Application
            permissions:
              - resource: a
                scopes:
                  - s
                roles: [r]
`
	if _, err := Parse("gatehouse.yaml", []byte(deep)); err != nil {
		t.Errorf("Parse(block style) = %v", err)
	}
	flow := `{authn: {issuers: [{name: corp, type: oidc, issuer: "https://idp.example.com", audiences: [a]}]}, dev: {idp: {tenants: [{id: 2e3fd419-1fb6-41f4-a9a1-60531a867149, apps: [{name: a, client_id: 68e96204-b89d-4992-9e0e-90cc31a67403, object_id: d3f7953b-28af-477f-9ed8-09ea39dc5086, app_roles: [{value: r, member_types: [Application]}], permissions: [{resource: a, roles: [r]}]}]}]}}}`
	if _, err := Parse("gatehouse.yaml", []byte(flow)); err != nil {
		t.Errorf("Parse(flow style) = %v", err)
	}
}

func TestParseAcceptsByteOrderMark(t *testing.T) {
	if _, err := Parse("gatehouse.yaml", []byte("\uFEFF"+minimal)); err != nil {
		t.Errorf("Parse(BOM + minimal) = %v", err)
	}
}

func TestParseScalarsAsStrings(t *testing.T) {
	f, err := Parse("gatehouse.yaml", []byte(`authn:
  issuers:
    - name: 42
      type: entra
      entra:
        authority: https://login.microsoftonline.com
        tenant: common
        tenants: ["*"]
        versions: [2.0, 1.0]
      audiences:
        - true
        - 123
        - |
          block
`))
	if err != nil {
		t.Fatalf("Parse = %v", err)
	}
	is := f.AuthN.Issuers[0]
	if is.Name != "42" || !cmp.Equal(is.Entra.Versions, []string{"2.0", "1.0"}) || !cmp.Equal(is.Audiences, []string{"true", "123", "block\n"}) {
		t.Errorf("Parse: name %q versions %q audiences %q; want scalars as written", is.Name, is.Entra.Versions, is.Audiences)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "gatehouse.yaml")
	if err := os.WriteFile(good, []byte(minimal), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(good); err != nil {
		t.Errorf("Load(%s) = %v", good, err)
	}

	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte(minimal+"      audence: [x]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(bad)
	if want := bad + `:7:7: authn.issuers[0].audence: unknown field "audence"`; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Load(bad) = %v, want prefix %s", err, want)
	}

	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, []byte(minimal+strings.Repeat("#\n", MaxFileSize)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("Load(big) = %v, want a size error", err)
	}

	if _, err := Load(filepath.Join(dir, "missing.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want os.ErrNotExist", err)
	}
}

func TestProblemError(t *testing.T) {
	for _, tt := range []struct {
		p    Problem
		want string
	}{
		{Problem{File: "g.yaml", Line: 3, Column: 5, Field: "authn.issuers", Msg: "m"}, "g.yaml:3:5: authn.issuers: m"},
		{Problem{File: "g.yaml", Field: "authn.issuers", Msg: "m"}, "g.yaml: authn.issuers: m"},
		{Problem{File: "g.yaml", Line: 1, Column: 1, Msg: "m"}, "g.yaml:1:1: m"},
		{Problem{Field: "authn.issuers", Msg: "m"}, "authn.issuers: m"},
	} {
		if got := tt.p.Error(); got != tt.want {
			t.Errorf("%+v.Error() = %q, want %q", tt.p, got, tt.want)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                              "0s",
		time.Hour:                      "1h",
		24 * time.Hour:                 "24h",
		5 * time.Minute:                "5m",
		90 * time.Second:               "1m30s",
		90 * time.Minute:               "1h30m",
		time.Hour + time.Second:        "1h0m1s",
		1500 * time.Millisecond:        "1.5s",
		10*time.Minute + time.Second/2: "10m0.5s",
	} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", d, got, want)
		}
		if back, err := time.ParseDuration(formatDuration(d)); err != nil || back != d {
			t.Errorf("ParseDuration(formatDuration(%v)) = %v, %v", d, back, err)
		}
	}
}
