package keyvault

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
)

var secretIDPattern = regexp.MustCompile(`^https://127\.0\.0\.1:\d+/secrets/[0-9A-Za-z-]+/[0-9a-f]{32}$`)

// wantResponseError checks the SDK's error for a refusal: status and
// Key Vault error code, and a phrase of the message.
func wantResponseError(t *testing.T, err error, status int, code, msgPart string) {
	t.Helper()
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("error %v (%T), want *azcore.ResponseError %d %s", err, err, status, code)
	}
	if re.StatusCode != status || re.ErrorCode != code {
		t.Errorf("status %d code %q, want %d %q: %v", re.StatusCode, re.ErrorCode, status, code, err)
	}
	if !strings.Contains(err.Error(), msgPart) {
		t.Errorf("error does not say %q: %v", msgPart, err)
	}
}

// TestSecretsWithSDK drives azsecrets, authenticated by azidentity against
// the dev IdP, through a secret's life: set, get, rotate, list, disable,
// delete, recover, purge.
func TestSecretsWithSDK(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	c := f.secrets(t, f.credential(t, tenantID, clientID, clientSecret))

	set1, err := c.SetSecret(ctx, "db-password", azsecrets.SetSecretParameters{
		Value: to.Ptr("hunter2"), ContentType: to.Ptr("text/plain"), Tags: map[string]*string{"env": to.Ptr("dev")},
	}, nil)
	if err != nil {
		t.Fatalf("SetSecret: %v", err)
	}
	if id := string(*set1.ID); !secretIDPattern.MatchString(id) || !strings.HasPrefix(id, f.vaultURL+"/secrets/db-password/") {
		t.Errorf("secret id %q", id)
	}
	if *set1.Value != "hunter2" || *set1.ContentType != "text/plain" || *set1.Tags["env"] != "dev" || !*set1.Attributes.Enabled {
		t.Errorf("SetSecret answered %+v", set1.Secret)
	}
	if set1.Attributes.Created == nil || set1.Attributes.Updated == nil || *set1.Attributes.RecoveryLevel != recoveryLevel {
		t.Errorf("attributes %+v", set1.Attributes)
	}
	v1 := set1.ID.Version()

	got, err := c.GetSecret(ctx, "db-password", "", nil)
	if err != nil || *got.Value != "hunter2" || got.ID.Version() != v1 {
		t.Fatalf("GetSecret latest = %+v, %v", got.Secret, err)
	}
	// Names are case-insensitive; the id keeps the name as created.
	if got, err := c.GetSecret(ctx, "DB-PASSWORD", v1, nil); err != nil || got.ID.Name() != "db-password" {
		t.Errorf("GetSecret by version, other case = %+v, %v", got.Secret, err)
	}

	// Rotate: a second version becomes current; the first stays readable by id.
	set2, err := c.SetSecret(ctx, "db-password", azsecrets.SetSecretParameters{Value: to.Ptr("correct horse")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	v2 := set2.ID.Version()
	if v2 == v1 {
		t.Fatal("a new version has the old version's id")
	}
	if got, err := c.GetSecret(ctx, "db-password", "", nil); err != nil || *got.Value != "correct horse" {
		t.Errorf("latest after rotation = %v, %v", got.Value, err)
	}
	if got, err := c.GetSecret(ctx, "db-password", v1, nil); err != nil || *got.Value != "hunter2" {
		t.Errorf("old version after rotation = %v, %v", got.Value, err)
	}

	var versions []string
	for p := c.NewListSecretPropertiesVersionsPager("db-password", nil); p.More(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("list versions: %v", err)
		}
		for _, sp := range page.Value {
			versions = append(versions, sp.ID.Version())
		}
	}
	if strings.Join(versions, ",") != v1+","+v2 {
		t.Errorf("versions %v, want [%s %s]", versions, v1, v2)
	}

	// Disable the old version: it is unreadable; enable it again.
	upd, err := c.UpdateSecretProperties(ctx, "db-password", v1, azsecrets.UpdateSecretPropertiesParameters{
		SecretAttributes: &azsecrets.SecretAttributes{Enabled: to.Ptr(false)},
	}, nil)
	if err != nil || *upd.Attributes.Enabled || upd.Value != nil || *upd.ContentType != "text/plain" {
		t.Fatalf("UpdateSecretProperties = %+v, %v", upd.Secret, err)
	}
	_, err = c.GetSecret(ctx, "db-password", v1, nil)
	wantResponseError(t, err, http.StatusForbidden, "Forbidden", "Operation get is not allowed on a disabled secret.")
	if _, err := c.UpdateSecretProperties(ctx, "db-password", v1, azsecrets.UpdateSecretPropertiesParameters{
		SecretAttributes: &azsecrets.SecretAttributes{Enabled: to.Ptr(true)}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetSecret(ctx, "db-password", v1, nil); err != nil {
		t.Errorf("re-enabled version: %v", err)
	}

	// Not found: a missing secret, a missing version.
	_, err = c.GetSecret(ctx, "no-such-secret", "", nil)
	wantResponseError(t, err, http.StatusNotFound, "SecretNotFound", "A secret with (name/id) no-such-secret was not found in this key vault")
	_, err = c.GetSecret(ctx, "db-password", strings.Repeat("0", 32), nil)
	wantResponseError(t, err, http.StatusNotFound, "SecretNotFound", "db-password/"+strings.Repeat("0", 32))

	// Another secret, then list the vault's secrets.
	if _, err := c.SetSecret(ctx, "api-key", azsecrets.SetSecretParameters{Value: to.Ptr("k")}, nil); err != nil {
		t.Fatal(err)
	}
	var names []string
	for p := c.NewListSecretPropertiesPager(nil); p.More(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, sp := range page.Value {
			if sp.ID.Version() != "" {
				t.Errorf("a list item has a version: %s", *sp.ID)
			}
			names = append(names, sp.ID.Name())
		}
	}
	if strings.Join(names, ",") != "api-key,db-password" {
		t.Errorf("secrets %v", names)
	}

	// Soft delete: gone for get, the name is held, recover brings it back.
	del, err := c.DeleteSecret(ctx, "db-password", nil)
	if err != nil {
		t.Fatal(err)
	}
	if del.Value != nil || del.RecoveryID == nil || *del.RecoveryID != f.vaultURL+"/deletedsecrets/db-password" ||
		del.DeletedDate == nil || del.ScheduledPurgeDate == nil || del.ScheduledPurgeDate.Sub(*del.DeletedDate) != 90*24*time.Hour {
		t.Errorf("DeleteSecret = %+v", del.DeletedSecret)
	}
	_, err = c.GetSecret(ctx, "db-password", "", nil)
	wantResponseError(t, err, http.StatusNotFound, "SecretNotFound", "If you recently deleted this secret")
	_, err = c.SetSecret(ctx, "db-password", azsecrets.SetSecretParameters{Value: to.Ptr("x")}, nil)
	wantResponseError(t, err, http.StatusConflict, "Conflict", "deleted but recoverable state")
	if d, err := c.GetDeletedSecret(ctx, "db-password", nil); err != nil || d.Value != nil || d.ID.Version() != v2 {
		t.Errorf("GetDeletedSecret = %+v, %v", d.DeletedSecret, err)
	}
	if _, err := c.RecoverDeletedSecret(ctx, "db-password", nil); err != nil {
		t.Fatal(err)
	}
	if got, err := c.GetSecret(ctx, "db-password", v1, nil); err != nil || *got.Value != "hunter2" {
		t.Errorf("recovered secret = %v, %v", got.Value, err)
	}

	// Purge: the name is free again.
	if _, err := c.DeleteSecret(ctx, "api-key", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PurgeDeletedSecret(ctx, "api-key", nil); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetDeletedSecret(ctx, "api-key", nil)
	wantResponseError(t, err, http.StatusNotFound, "SecretNotFound", "Deleted Secret not found")
	if _, err := c.SetSecret(ctx, "api-key", azsecrets.SetSecretParameters{Value: to.Ptr("k2")}, nil); err != nil {
		t.Errorf("set after purge: %v", err)
	}

	// Nothing logged holds a value or a token.
	logs := f.logs.String()
	for _, bad := range []string{"hunter2", "correct horse", "eyJ"} {
		if strings.Contains(logs, bad) {
			t.Errorf("the log holds %q:\n%s", bad, logs)
		}
	}
}

// TestChallenge: a new client's first request carries no token and is
// answered 401 with Key Vault's challenge; the SDK gets a token for the
// resource it names from the tenant it names and sends the request again.
func TestChallenge(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.secrets(t, f.credential(t, tenantID, clientID, clientSecret))
	if _, err := c.SetSecret(context.Background(), "s", azsecrets.SetSecretParameters{Value: to.Ptr("v")}, nil); err != nil {
		t.Fatal(err)
	}
	calls := f.calls.all()
	if len(calls) != 2 {
		t.Fatalf("%d requests reached the vault, want 2: %+v", len(calls), calls)
	}
	want := `Bearer authorization="` + f.idpURL + "/" + tenantID + `", resource="https://vault.azure.net"`
	if c0 := calls[0]; c0.bearer || c0.status != http.StatusUnauthorized || c0.challenge != want {
		t.Errorf("first request: bearer %v, status %d, challenge %q; want no token, 401, %q", c0.bearer, c0.status, c0.challenge, want)
	}
	if c1 := calls[1]; !c1.bearer || c1.status != http.StatusOK || c1.method != http.MethodPut {
		t.Errorf("second request: %+v, want PUT with a token, 200", c1)
	}

	// The body of the challenge, as Key Vault sends it.
	resp, body := f.do(t, http.MethodGet, "/secrets/s?api-version=7.6", "", nil)
	wantKVError(t, resp, body, http.StatusUnauthorized, "Unauthorized", "", "AKV10000: Request is missing a Bearer or PoP token.")
	if resp.Header.Get("WWW-Authenticate") != want {
		t.Errorf("WWW-Authenticate %q", resp.Header.Get("WWW-Authenticate"))
	}
}

// TestAccessDenied: a second app of the tenant, without an access policy,
// gets Key Vault's 403 for every operation, before any lookup.
func TestAccessDenied(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.vault.SetSecret("db-password", "hunter2"); err != nil {
		t.Fatal(err)
	}
	c := f.secrets(t, f.credential(t, tenantID, otherID, otherSecret))
	_, err := c.GetSecret(ctx, "db-password", "", nil)
	wantResponseError(t, err, http.StatusForbidden, "Forbidden",
		"The user, group or application 'appid="+otherID+";oid="+otherSP+";iss="+f.idpURL+"/"+tenantID+"/' does not have secrets get permission on key vault '127.0.0.1;location=local'")
	if !strings.Contains(err.Error(), "AccessDenied") {
		t.Errorf("no innererror AccessDenied: %v", err)
	}
	_, err = c.GetSecret(ctx, "no-such-secret", "", nil)
	wantResponseError(t, err, http.StatusForbidden, "Forbidden", "does not have secrets get permission")
	_, err = c.SetSecret(ctx, "x", azsecrets.SetSecretParameters{Value: to.Ptr("v")}, nil)
	wantResponseError(t, err, http.StatusForbidden, "Forbidden", "does not have secrets set permission")
	_, err = f.keys(t, f.credential(t, tenantID, otherID, otherSecret)).GetKey(ctx, "k", "", nil)
	wantResponseError(t, err, http.StatusForbidden, "Forbidden", "does not have keys get permission")
}

// TestPermissionsAreSeparate: a policy with only secrets get and list lets
// the caller read but not write, and gives it no key permission.
func TestPermissionsAreSeparate(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *Config) {
		c.Access = []Access{{ObjectID: clientSP, Secrets: []string{"Get", "LIST"}}}
	})
	ctx := context.Background()
	if _, err := f.vault.SetSecret("s", "v"); err != nil {
		t.Fatal(err)
	}
	c := f.secrets(t, f.credential(t, tenantID, clientID, clientSecret))
	if _, err := c.GetSecret(ctx, "s", "", nil); err != nil {
		t.Errorf("get: %v", err)
	}
	if _, err := c.NewListSecretPropertiesPager(nil).NextPage(ctx); err != nil {
		t.Errorf("list: %v", err)
	}
	_, err := c.DeleteSecret(ctx, "s", nil)
	wantResponseError(t, err, http.StatusForbidden, "Forbidden", "does not have secrets delete permission")
	_, err = f.keys(t, f.credential(t, tenantID, clientID, clientSecret)).CreateKey(ctx, "k", azkeysRSA(2048), nil)
	wantResponseError(t, err, http.StatusForbidden, "Forbidden", "does not have keys create permission")
}

// TestSecretLimits: Key Vault's 25 KiB value limit, name rule, tag limit
// and a bound on the body.
func TestSecretLimits(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tok := token(t, f.credential(t, tenantID, clientID, clientSecret), Resource+"/.default")
	resp, body := f.do(t, http.MethodPut, "/secrets/big?api-version=7.6", tok, map[string]string{"value": strings.Repeat("x", maxSecretBytes)})
	if resp.StatusCode != http.StatusOK {
		t.Errorf("a 25 KiB secret: %d %v", resp.StatusCode, body)
	}
	resp, body = f.do(t, http.MethodPut, "/secrets/big?api-version=7.6", tok, map[string]string{"value": strings.Repeat("x", maxSecretBytes+1)})
	wantKVError(t, resp, body, http.StatusBadRequest, "BadParameter", "", "at most 25600")
	resp, body = f.do(t, http.MethodPut, "/secrets/not_valid?api-version=7.6", tok, map[string]string{"value": "v"})
	wantKVError(t, resp, body, http.StatusBadRequest, "BadParameter", "", "invalid name: not_valid")
	resp, body = f.do(t, http.MethodPut, "/secrets/"+strings.Repeat("a", 128)+"?api-version=7.6", tok, map[string]string{"value": "v"})
	wantKVError(t, resp, body, http.StatusBadRequest, "BadParameter", "", "invalid name")
	resp, body = f.do(t, http.MethodPut, "/secrets/nov?api-version=7.6", tok, map[string]string{"contentType": "x"})
	wantKVError(t, resp, body, http.StatusBadRequest, "BadParameter", "", "value is required")
	tags := map[string]string{}
	for i := range 16 {
		tags[string(rune('a'+i))] = "v"
	}
	resp, body = f.do(t, http.MethodPut, "/secrets/tags?api-version=7.6", tok, map[string]any{"value": "v", "tags": tags})
	wantKVError(t, resp, body, http.StatusBadRequest, "BadParameter", "", "at most 15 tags")
	resp, body = f.do(t, http.MethodPut, "/secrets/huge?api-version=7.6", tok, map[string]string{"value": strings.Repeat("x", maxBodyBytes)})
	wantKVError(t, resp, body, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "", "larger than")
	resp, body = f.do(t, http.MethodPut, "/secrets/typed?api-version=7.6", tok, map[string]any{"value": 42})
	wantKVError(t, resp, body, http.StatusBadRequest, "BadParameter", "", "'value' has the wrong type")
}

// TestSecretTimeWindow: Key Vault documents that get works for a secret
// outside its nbf/exp window ("date-time controlled operations"); the
// attributes say so, and only enabled gates the value.
func TestSecretTimeWindow(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	c := f.secrets(t, f.credential(t, tenantID, clientID, clientSecret))
	past, future := time.Now().Add(-time.Hour).Truncate(time.Second), time.Now().Add(time.Hour).Truncate(time.Second)
	set, err := c.SetSecret(ctx, "expired", azsecrets.SetSecretParameters{Value: to.Ptr("old"),
		SecretAttributes: &azsecrets.SecretAttributes{Expires: &past}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.GetSecret(ctx, "expired", "", nil)
	if err != nil || *got.Value != "old" || !got.Attributes.Expires.Equal(past) {
		t.Errorf("expired secret = %+v, %v", got.Secret, err)
	}
	if _, err := c.SetSecret(ctx, "later", azsecrets.SetSecretParameters{Value: to.Ptr("new"),
		SecretAttributes: &azsecrets.SecretAttributes{NotBefore: &future}}, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := c.GetSecret(ctx, "later", "", nil); err != nil || !got.Attributes.NotBefore.Equal(future) {
		t.Errorf("not-yet-valid secret = %+v, %v", got.Secret, err)
	}
	// The current version is the newest, even when disabled.
	if _, err := c.SetSecret(ctx, "expired", azsecrets.SetSecretParameters{Value: to.Ptr("off"),
		SecretAttributes: &azsecrets.SecretAttributes{Enabled: to.Ptr(false)}}, nil); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetSecret(ctx, "expired", "", nil)
	wantResponseError(t, err, http.StatusForbidden, "Forbidden", "disabled secret")
	if got, err := c.GetSecret(ctx, "expired", set.ID.Version(), nil); err != nil || *got.Value != "old" {
		t.Errorf("older enabled version = %v, %v", got.Value, err)
	}
}
