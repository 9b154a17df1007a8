package sts

import (
	"strings"
	"testing"
	"time"
)

const anyTrust = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}]}`

// TestNewRefusesConfig: each configuration mistake is named; all of them
// are reported together.
func TestNewRefusesConfig(t *testing.T) {
	t.Parallel()
	good := func() Config {
		return Config{
			Providers: []Provider{{URL: "https://issuer.example/tenant", ClientIDs: []string{stsAudience}}},
			Roles:     []Role{{Name: "reader", TrustPolicy: []byte(anyTrust)}},
		}
	}
	if _, err := New(good()); err != nil {
		t.Fatalf("New(good config): %v", err)
	}
	tests := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"account id of 11 digits", func(c *Config) { c.AccountID = "12345678901" }, "AccountID"},
		{"region with a space", func(c *Config) { c.Region = "us east 1" }, "Region"},
		{"provider over http", func(c *Config) { c.Providers[0].URL = "http://issuer.example" }, "want an https URL"},
		{"provider with a query", func(c *Config) { c.Providers[0].URL = "https://issuer.example/?tenant=x" }, "want an https URL"},
		{"provider without client ids", func(c *Config) { c.Providers[0].ClientIDs = nil }, "1 to 100 client ids"},
		{"client id of 256 characters", func(c *Config) { c.Providers[0].ClientIDs = []string{strings.Repeat("a", 256)} }, "1 to 255 characters"},
		{"provider twice", func(c *Config) { c.Providers = append(c.Providers, c.Providers[0]) }, "configured twice"},
		{"role name with a space", func(c *Config) { c.Roles[0].Name = "my reader" }, "Name"},
		{"role name with an empty path segment", func(c *Config) { c.Roles[0].Name = "svc//reader" }, "Name"},
		{"role name of 65 characters", func(c *Config) { c.Roles[0].Name = strings.Repeat("r", 65) }, "at most 64"},
		{"one role name under two paths", func(c *Config) {
			c.Roles = append(c.Roles, Role{Name: "svc/Reader", TrustPolicy: []byte(anyTrust)})
		}, "used twice"},
		{"max session of 30 minutes", func(c *Config) { c.Roles[0].MaxSessionDuration = 30 * time.Minute }, "MaxSessionDuration"},
		{"max session of 13 hours", func(c *Config) { c.Roles[0].MaxSessionDuration = 13 * time.Hour }, "MaxSessionDuration"},
		{"empty invoke pattern", func(c *Config) { c.Roles[0].Invoke = []string{""} }, "Invoke"},
		{"no trust policy", func(c *Config) { c.Roles[0].TrustPolicy = nil }, "trust policy is empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := good()
			tc.edit(&cfg)
			_, err := New(cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v, want an error naming %q", err, tc.want)
			}
		})
	}
	t.Run("every problem at once", func(t *testing.T) {
		t.Parallel()
		cfg := good()
		cfg.AccountID = "x"
		cfg.Providers[0].ClientIDs = nil
		cfg.Roles = append(cfg.Roles, Role{Name: "bad name", TrustPolicy: []byte(anyTrust)}, Role{Name: "w", TrustPolicy: []byte(`{}`)})
		_, err := New(cfg)
		if err == nil {
			t.Fatal("New accepted a broken configuration")
		}
		for _, want := range []string{"AccountID", "Providers[0]", "Roles[1]", "Roles[2] w"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("New: %v\nwant it to name %s", err, want)
			}
		}
	})
}

// TestSessionStoreBounds: expired sessions are kept an hour (so their use
// is answered ExpiredToken), then dropped; at capacity the session closest
// to expiry makes room.
func TestSessionStoreBounds(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	st := newSessionStore(3)
	put := func(id string, expires time.Duration) {
		st.put(&Session{AccessKeyID: id, Expiration: now.Add(expires)}, now)
	}
	put("A", time.Hour)
	put("B", 3*time.Hour)
	put("C", 2*time.Hour)
	put("D", 4*time.Hour) // at capacity: A, the closest to expiry, goes
	for id, want := range map[string]bool{"A": false, "B": true, "C": true, "D": true} {
		if got := st.get(id, now) != nil; got != want {
			t.Errorf("after the fourth put, session %s present = %t, want %t", id, got, want)
		}
	}
	if st.get("C", now.Add(2*time.Hour+30*time.Minute)) == nil {
		t.Errorf("session C dropped 30 minutes after expiry, want it kept for an hour")
	}
	if st.get("C", now.Add(3*time.Hour+time.Minute)) != nil || st.len() != 2 {
		t.Errorf("session C kept more than an hour after expiry (%d sessions)", st.len())
	}
}

// TestAuthenticateReturnsACopy: changing what Authenticate or the store
// returned changes nothing stored.
func TestSessionCopies(t *testing.T) {
	t.Parallel()
	s := &Session{AccessKeyID: "ASIA", Tags: map[string]string{"a": "b"}, TransitiveTagKeys: []string{"a"}, Invoke: []string{"f"}}
	c := s.clone()
	c.Tags["a"] = "x"
	c.TransitiveTagKeys[0] = "x"
	c.Invoke[0] = "x"
	if s.Tags["a"] != "b" || s.TransitiveTagKeys[0] != "a" || s.Invoke[0] != "f" {
		t.Errorf("clone shares state with the original: %+v", s)
	}
}
