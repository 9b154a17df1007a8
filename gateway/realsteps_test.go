package gateway

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestRealStepsTokenChecks runs tokens through the gateway with its real
// verifier, policy, trail and HTTP target: each bad token gets 401 naming
// the failed check and never reaches the upstream.
func TestRealStepsTokenChecks(t *testing.T) {
	var reached atomic.Int64
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		w.Write([]byte(`{"ok":true}`))
	}))
	defer up.Close()
	g, iss := newRealGateway(t, up.URL)
	h := g.Handler()
	now := time.Now()
	claims := func(edit func(map[string]any)) map[string]any {
		c := map[string]any{"iss": iss.URL(), "aud": "api://gatehouse", "sub": "user-1", "exp": now.Add(time.Hour).Unix(),
			"iat": now.Unix(), "nbf": now.Unix(), "jti": "t1", "groups": []string{readersGroup}}
		if edit != nil {
			edit(c)
		}
		return c
	}
	for _, c := range []struct {
		name, token string
		status      int
		check       string
	}{
		{"good", iss.Sign(claims(nil)), 200, ""},
		{"expired", iss.Sign(claims(func(c map[string]any) {
			c["exp"], c["iat"], c["nbf"] = now.Add(-time.Hour).Unix(), now.Add(-2*time.Hour).Unix(), now.Add(-2*time.Hour).Unix()
		})), 401, "exp"},
		{"not yet valid", iss.Sign(claims(func(c map[string]any) { c["nbf"] = now.Add(time.Hour).Unix() })), 401, "nbf"},
		{"other audience", iss.Sign(claims(func(c map[string]any) { c["aud"] = "api://other" })), 401, "aud"},
		{"other issuer", iss.Sign(claims(func(c map[string]any) { c["iss"] = "https://evil.example" })), 401, "iss"},
		{"not a reader", iss.Sign(claims(func(c map[string]any) { c["groups"] = []string{} })), 403, ""},
	} {
		req := httptest.NewRequest("GET", "/api/items", nil)
		req.Header.Set("Authorization", "Bearer "+c.token)
		w := httptest.NewRecorder()
		before := reached.Load()
		h.ServeHTTP(w, req)
		wa := w.Header().Get("WWW-Authenticate")
		switch {
		case w.Code != c.status:
			t.Errorf("%s: %d %s, want %d", c.name, w.Code, w.Body, c.status)
		case c.status == 401 && (!strings.Contains(wa, `error="invalid_token"`) || !strings.Contains(wa, `error_description="`+c.check+":")):
			t.Errorf("%s: WWW-Authenticate %q, want invalid_token naming %s", c.name, wa, c.check)
		case c.status != 200 && reached.Load() != before:
			t.Errorf("%s: the upstream was called", c.name)
		}
	}
}
