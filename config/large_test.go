package config

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestParseLargeFiles checks that files near MaxFileSize parse in time
// linear in their size, whether valid or full of problems: each check that
// compares list elements must use an index, not a nested loop.
func TestParseLargeFiles(t *testing.T) {
	if testing.Short() {
		t.Skip("large inputs")
	}
	guid := func(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012x", i) }
	fill := func(head string, item func(i int) string, tail string) string {
		var b strings.Builder
		b.WriteString(head)
		for i := 0; b.Len() < MaxFileSize-len(tail)-200; i++ {
			b.WriteString(item(i))
		}
		b.WriteString(tail)
		return b.String()
	}
	tenant := guid(0)
	for _, tt := range []struct {
		name  string
		yaml  string
		valid bool
	}{
		{"many audiences", fill(strings.TrimSuffix(minimal, "      audiences: [api://corp]\n")+"      audiences:\n", func(i int) string {
			return fmt.Sprintf("        - a%d\n", i)
		}, ""), true},
		{"many repeated audiences", fill(strings.TrimSuffix(minimal, "      audiences: [api://corp]\n")+"      audiences:\n", func(i int) string {
			return "        - a\n"
		}, ""), false},
		{"many unknown keys", fill(minimal, func(i int) string {
			return fmt.Sprintf("      audiencez%d: x\n", i)
		}, ""), false},
		{"many unknown keys, under the key limit each", fill(minimal+"dev:\n  idp:\n    tenants:\n", func(i int) string {
			if i%(maxKeys-2) == 0 {
				return fmt.Sprintf("      - id: %s\n", guid(i))
			}
			return fmt.Sprintf("        k%d: x\n", i)
		}, ""), false},
		{"many issuers", fill("authn:\n  issuers:\n", func(i int) string {
			return fmt.Sprintf("    - {name: i%d, type: oidc, issuer: \"https://x\", audiences: [a]}\n", i)
		}, ""), true},
		{"many groups of one user", fill(minimal+"dev:\n  idp:\n    tenants:\n      - id: "+tenant+"\n        groups:\n", func(i int) string {
			return fmt.Sprintf("          - {id: %s, name: g%d}\n", guid(i+1), i)
		}, "        users:\n          - {id: "+guid(1<<40)+", upn: a@b, password: p, groups: [g1, g2, g3, g4, g5, g6, g7, g8, g9, g10]}\n"), true},
		{"many groups of a user, all unknown", fill(minimal+"dev:\n  idp:\n    tenants:\n      - id: "+tenant+"\n        users:\n          - id: "+guid(1)+"\n            upn: a@b\n            password: p\n            groups:\n", func(i int) string {
			return fmt.Sprintf("              - g%d\n", i)
		}, ""), false},
		{"many roles", fill(minimal+"dev:\n  idp:\n    tenants:\n      - id: "+tenant+"\n        apps:\n          - name: api\n            client_id: "+guid(1)+"\n            object_id: "+guid(2)+"\n            permissions: [{resource: api, roles: [r1, r2, r3]}]\n            app_roles:\n", func(i int) string {
			return fmt.Sprintf("              - {value: r%d, member_types: [Application]}\n", i)
		}, ""), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if len(tt.yaml) > MaxFileSize {
				t.Fatalf("input is %d bytes, over the limit", len(tt.yaml))
			}
			start := time.Now()
			_, err := Parse("large.yaml", []byte(tt.yaml))
			took := time.Since(start)
			if (err == nil) != tt.valid {
				msg := fmt.Sprint(err)
				t.Errorf("Parse: %d problems (%.200s...), want valid %v", len(Problems(err)), msg, tt.valid)
			}
			t.Logf("%d bytes, %d problems, %v", len(tt.yaml), len(Problems(err)), took)
			if took > 20*time.Second {
				t.Errorf("Parse took %v for %d bytes", took, len(tt.yaml))
			}
		})
	}
}
