package keyvault

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// FuzzHandler: no method, path, query, body or Authorization header makes
// the handler panic, fail (5xx other than 501) or answer anything but JSON;
// an empty auth stands for a valid token, so the operations are reached.
func FuzzHandler(f *testing.F) {
	fx := newFixture(f)
	if _, err := fx.vault.SetSecret("s", "v"); err != nil {
		f.Fatal(err)
	}
	if _, err := fx.vault.CreateKey("k", KeySpec{Type: "EC"}); err != nil {
		f.Fatal(err)
	}
	if _, err := fx.vault.CreateKey("r", KeySpec{Type: "RSA"}); err != nil {
		f.Fatal(err)
	}
	tok := token(f, fx.credential(f, tenantID, clientID, clientSecret), Resource+"/.default")
	digest := b64.EncodeToString(make([]byte, 32))
	for _, seed := range []struct {
		method      byte
		path, query string
		body        string
	}{
		{0, "/secrets/s", "api-version=7.6", ""},
		{1, "/secrets/n", "api-version=7.6", `{"value":"x","contentType":"t","tags":{"a":"b"},"attributes":{"enabled":false,"nbf":1,"exp":2}}`},
		{2, "/secrets/s/", "api-version=7.5", `{"attributes":{"enabled":true},"tags":{}}`},
		{3, "/secrets/s", "api-version=7.4", ""},
		{0, "/secrets", "api-version=7.6&maxresults=1&$skiptoken=MQ", ""},
		{4, "/deletedsecrets/s/recover", "api-version=7.6", ""},
		{3, "/deletedsecrets/s", "api-version=7.6", ""},
		{4, "/keys/k2/create", "api-version=7.6", `{"kty":"EC","crv":"P-384","key_ops":["sign"]}`},
		{4, "/keys/k2/create", "api-version=7.6", `{"kty":"RSA","key_size":2048,"public_exponent":65537}`},
		{4, "/keys/k//sign", "api-version=7.6", `{"alg":"ES256","value":"` + digest + `"}`},
		{4, "/keys/r//sign", "api-version=7.6", `{"alg":"PS256","value":"` + digest + `"}`},
		{4, "/keys/k//verify", "api-version=7.6", `{"alg":"ES256","digest":"` + digest + `","value":"AAAA"}`},
		{4, "/keys/k/rotate", "api-version=2026-04-01", ""},
		{2, "/keys/k", "api-version=7.6", `{"key_ops":["verify"],"attributes":{"exp":253402300799}}`},
		{0, "/keys/k/versions", "api-version=7.6", ""},
		{0, "//keys/%2e%2e/%00", "api-version=7.6", `null`},
		{1, "/secrets/s", "api-version=7.6", `{"value":"\ud800","tags":{"":"x"}}`},
		{1, "/secrets/s", "api-version=7.6", `[1,2]`},
	} {
		f.Add(seed.method, seed.path, seed.query, seed.body, "")
	}
	f.Add(byte(0), "/secrets/s", "api-version=7.6", "", "Bearer eyJhbGciOiJSUzI1NiJ9.e30.AA")
	f.Add(byte(0), "/secrets/s", "api-version=7.6", "", "PoP x")
	methodNames := []string{http.MethodGet, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodPost, http.MethodHead, "OPTIONS"}
	h := fx.vault.Handler()
	f.Fuzz(func(t *testing.T, method byte, path, query, body, auth string) {
		u := &url.URL{Path: path, RawQuery: query}
		r := httptest.NewRequest(http.MethodGet, "/", strings.NewReader(body))
		r.Method = methodNames[int(method)%len(methodNames)]
		r.URL = u
		r.RequestURI = u.RequestURI()
		if auth == "" {
			auth = "Bearer " + tok
		}
		r.Header.Set("Authorization", auth)
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code >= 500 && w.Code != http.StatusNotImplemented {
			t.Errorf("%s %s?%s: status %d: %s", r.Method, path, query, w.Code, w.Body.String())
		}
		if w.Code == http.StatusNoContent {
			return
		}
		var v any
		if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
			t.Errorf("%s %s?%s: status %d, not JSON: %q", r.Method, path, query, w.Code, w.Body.String())
		}
		if m, _ := v.(map[string]any); m != nil {
			if jwk, _ := m["key"].(map[string]any); jwk != nil {
				for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
					if _, ok := jwk[private]; ok {
						t.Errorf("private key member %q in an answer: %s", private, w.Body.String())
					}
				}
			}
		}
	})
}
