package e2e

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// The development directory's tenant and users, as config/dev.yaml has
// them.
const (
	devTenant = "2e3fd419-1fb6-41f4-a9a1-60531a867149"
	bobOID    = "1ee840e4-61de-4634-b1e6-1e29799b084f"
)

// devPseudonym is the pseudonym the protected example gives a user: the
// audit package's construction (HMAC-SHA-256 of tenant, NUL, subject)
// under the example's published, dev-only key.
func devPseudonym(t *testing.T, tenant, subject string) string {
	t.Helper()
	key, err := os.ReadFile("../examples/functions/protected/protected/dev-only-pseudonym.key")
	if err != nil {
		t.Fatal(err)
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(tenant + "\x00" + subject))
	return "p1:" + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// TestFunctionURL: under `gatehouse dev` the protected example, which
// checks tokens itself with lambdaauth, answers plain HTTPS requests to its
// function URL on the local Lambda host (auth type NONE: no signature), as
// curl would send them: bob (finance) is allowed as reader and gets
// credentials of the reader role, dave (support) is denied, and a request
// without a token or with a tampered one is refused with RFC 6750's
// answers.
func TestFunctionURL(t *testing.T) {
	state := t.TempDir()
	d := startDev(t, state, "127.0.0.1:0")
	c := gatewayClient(t, d)
	fnURL := d.ready.Lambda + "/lambda-url/protected/"
	if !strings.Contains(d.stdout.String(), fnURL+" (function URL)") {
		t.Errorf("the banner does not show the function URL %s:\n%s", fnURL, d.stdout)
	}
	bob := token(t, state, "--user", "bob")

	r := call(t, c, "GET", fnURL, bob, "")
	if r.status != 200 || r.header.Get("Content-Type") != "application/json" || r.header.Get("X-Amzn-Requestid") == "" {
		t.Fatalf("bob: %d %v %s", r.status, r.header, r.body)
	}
	var answer struct {
		Caller struct {
			Principal string   `json:"principal"`
			Tenant    string   `json:"tenant"`
			Kind      string   `json:"kind"`
			Role      string   `json:"role"`
			Policies  []string `json:"policies"`
		} `json:"caller"`
		CallerIdentity *struct {
			Account string `json:"account"`
			ARN     string `json:"arn"`
		} `json:"callerIdentity"`
		CallerIdentityError string `json:"callerIdentityError"`
		RequestID           string `json:"requestId"`
	}
	if err := json.Unmarshal([]byte(r.body), &answer); err != nil {
		t.Fatalf("bob's answer %s: %v", r.body, err)
	}
	cl := answer.Caller
	if want := devPseudonym(t, devTenant, bobOID); cl.Principal != want || cl.Tenant != devTenant || cl.Kind != "user" || cl.Role != "reader" {
		t.Errorf("caller %+v, want principal %s, tenant %s, a user as reader", cl, want, devTenant)
	}
	if strings.Contains(r.body, "bob@contoso.example") || strings.Contains(r.body, "Bob Example") {
		t.Errorf("the answer names bob in clear: %s", r.body)
	}
	if ci := answer.CallerIdentity; ci == nil || ci.Account != "000000000000" ||
		!strings.HasPrefix(ci.ARN, "arn:aws:sts::000000000000:assumed-role/gatehouse-protected-reader/") {
		t.Errorf("GetCallerIdentity: %+v (error %q), want the reader role's session", ci, answer.CallerIdentityError)
	}
	if answer.RequestID != r.header.Get("X-Amzn-Requestid") {
		t.Errorf("the function's request id %q is not the URL's %q", answer.RequestID, r.header.Get("X-Amzn-Requestid"))
	}

	dave := token(t, state, "--user", "dave")
	if r = call(t, c, "GET", fnURL, dave, ""); r.status != 403 || !strings.Contains(r.header.Get("WWW-Authenticate"), `error="insufficient_scope"`) {
		t.Errorf("dave: %d %q %s, want 403", r.status, r.header.Get("WWW-Authenticate"), r.body)
	}
	if r = call(t, c, "GET", fnURL, "", ""); r.status != 401 || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer ") {
		t.Errorf("no token: %d %q %s, want 401", r.status, r.header.Get("WWW-Authenticate"), r.body)
	}
	r = call(t, c, "GET", fnURL, bob[:len(bob)-4]+"AAAA", "")
	if wa := r.header.Get("WWW-Authenticate"); r.status != 401 || !strings.Contains(wa, `error="invalid_token"`) || !strings.Contains(r.body, "invalid_token") {
		t.Errorf("tampered token: %d %q %s, want 401 invalid_token", r.status, wa, r.body)
	}

	// Other functions have no URL; the Invoke API still wants a signature.
	if r = call(t, c, "GET", d.ready.Lambda+"/lambda-url/whoami/", bob, ""); r.status != 404 {
		t.Errorf("whoami has no function URL: %d %s", r.status, r.body)
	}
	if r = call(t, c, "POST", d.ready.Lambda+"/2015-03-31/functions/protected/invocations", bob, "{}"); r.status != 403 {
		t.Errorf("unsigned Invoke API call: %d %s, want 403", r.status, r.body)
	}
}
