package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// The app gatehouse reaches Key Vault as, with two client secrets (as an
// Entra app has while one replaces the other).
const (
	vaultAppID     = "5d6e7f80-91a2-4b3c-8d4e-5f60718293a4"
	vaultAppObject = "6e7f8091-a2b3-4c4d-9e5f-60718293a4b5"
	vaultSecret1   = "dev-only-vault-client-secret-one"
	vaultSecret2   = "dev-only-vault-client-secret-two"
)

// TestKeyVaultRotation: gatehouse dev and serve both sign with one key of
// the local Key Vault, reached as an app of the development IdP; dev reads
// the app's client secret from a file, serve from the local Secrets
// Manager, and serve's pseudonym key is a Key Vault secret. While requests
// run, the app's client secret is rotated in Secrets Manager and a new key
// version is created in the vault: no request fails, serve's next token
// request uses the new client secret, the new key version is published by
// both before either signs with it, and no secret value shows in what
// serve writes.
func TestKeyVaultRotation(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	kvAddr := freePort(t)
	vaultURL := "https://" + kvAddr
	secretFile := filepath.Join(dir, "dev-client-secret")
	os.WriteFile(secretFile, []byte(vaultSecret1), 0o600)

	cfg, _, _ := run(t, "", "dev", "--print-config")
	cfg = strings.NewReplacer(
		"  sts:\n    listen: 127.0.0.1:9444\n    roles:\n", "  sts:\n    listen: 127.0.0.1:9444\n    roles:\n"+secretsRole,
		"        apps:\n", fmt.Sprintf("        apps:\n          - name: gatehouse-vault\n            client_id: %s\n            object_id: %s\n            secrets: [%s, %s]\n", vaultAppID, vaultAppObject, vaultSecret1, vaultSecret2),
		"  keyvault:\n    listen: 127.0.0.1:9448\n", "  keyvault:\n    listen: "+kvAddr+"\n    access:\n      - {principal: gatehouse-vault, secrets: [get, set], keys: [get, sign, create]}\n",
		"creds:\n  mode: broker\n", "creds:\n  mode: broker\n  issuer:\n    signing_key:\n      azure_key_vault: {vault: \""+vaultURL+"\", name: gatehouse-issuer}\n    publish_ahead: 25s\n",
		"secrets:\n  refresh_interval: 5m\n", "secrets:\n  refresh_interval: 10s\n  azure:\n    client:\n      authority: dev\n      tenant: 2e3fd419-1fb6-41f4-a9a1-60531a867149\n      client_id: "+vaultAppID+"\n      client_secret: {file: "+secretFile+"}\n",
	).Replace(cfg)
	for _, want := range []string{"gatehouse-secrets", "name: gatehouse-vault", "principal: gatehouse-vault", "name: gatehouse-issuer", "authority: dev"} {
		if !strings.Contains(cfg, want) {
			t.Fatalf("could not write %q into dev's configuration:\n%s", want, cfg)
		}
	}
	devPath := filepath.Join(dir, "dev.yaml")
	os.WriteFile(devPath, []byte(cfg), 0o600)
	d := startDevArgs(t, state, "--idp-listen", "127.0.0.1:0", "--config", devPath, "--sts-listen", "127.0.0.1:0", "--gateway-listen", "127.0.0.1:0",
		"--lambda-listen", "127.0.0.1:0", "--upstream-listen", "127.0.0.1:0", "--keyvault-listen", kvAddr)

	caPEM, _ := os.ReadFile(d.ready.CAFile)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}

	// The deployment pipeline: the app's client secret into Secrets
	// Manager, the pseudonym key into Key Vault (as the app: azsecrets).
	appToken := token(t, state, "--config", devPath, "--client", "report-agent")
	provider := stscreds.NewWebIdentityRoleProvider(sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(d.ready.STS), HTTPClient: hc}),
		"arn:aws:iam::000000000000:role/gatehouse-secrets", staticToken(appToken))
	awsCreds, err := provider.Retrieve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sm := secretsmanager.New(secretsmanager.Options{Region: "us-east-1", BaseEndpoint: aws.String(d.ready.STS), HTTPClient: hc, Credentials: aws.NewCredentialsCache(provider)})
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("gatehouse/azure-client-secret"), SecretString: aws.String(vaultSecret1)}); err != nil {
		t.Fatal(err)
	}
	appCred, err := azidentity.NewClientSecretCredential(d.ready.Tenant, vaultAppID, vaultSecret1, &azidentity.ClientSecretCredentialOptions{
		ClientOptions: azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: d.ready.IDP + "/"}, Transport: hc}, DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	kvSecrets, _ := azsecrets.NewClient(vaultURL, appCred, &azsecrets.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: hc}, DisableChallengeResourceVerification: true})
	kvKeys, _ := azkeys.NewClient(vaultURL, appCred, &azkeys.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: hc}, DisableChallengeResourceVerification: true})
	auditKey := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("q", 32)))
	if _, err := kvSecrets.SetSecret(ctx, "audit-key", azsecrets.SetSecretParameters{Value: &auditKey}, nil); err != nil {
		t.Fatalf("SetSecret as the app: %v", err)
	}

	// serve: its issuer key, pseudonym key and client secret by reference.
	gh := filepath.Join(dir, "gh")
	if out, errOut, code := run(t, "", "init", "--dev", "--state-dir", state, "--dir", gh, "--gateway-listen", freePort(t)); code != 0 {
		t.Fatalf("init --dev: %s%s", out, errOut)
	}
	path := filepath.Join(gh, "gatehouse.yaml")
	b, _ := os.ReadFile(path)
	serveCfg := strings.NewReplacer(
		"  key_file: keys/audit-key\n", "  key:\n    azure_key_vault: {vault: \""+vaultURL+"\", name: audit-key}\n    encoding: base64\n",
		"secrets:\n  refresh_interval: 5m\n", fmt.Sprintf("secrets:\n  refresh_interval: 10s\n  aws:\n    endpoint: %s\n    ca_file: %s\n  azure:\n    ca_file: %s\n    client:\n      authority: %s\n      tenant: %s\n      client_id: %s\n      client_secret: {aws_secrets_manager: {secret_id: gatehouse/azure-client-secret}}\n",
			d.ready.STS, d.ready.CAFile, d.ready.CAFile, d.ready.IDP, d.ready.Tenant, vaultAppID),
	).Replace(string(b))
	serveCfg = regexp.MustCompile(`(?m)^    key_dir: .*\n`).ReplaceAllString(serveCfg,
		"    key_dir: keys/issuer\n    signing_key:\n      azure_key_vault: {vault: \""+vaultURL+"\", name: gatehouse-issuer}\n    publish_ahead: 25s\n")
	for _, want := range []string{"name: audit-key", "gatehouse/azure-client-secret", "name: gatehouse-issuer"} {
		if !strings.Contains(serveCfg, want) {
			t.Fatalf("could not write %q into serve's configuration:\n%s", want, serveCfg)
		}
	}
	os.WriteFile(path, []byte(serveCfg), 0o600)
	awsEnv := []string{"AWS_ACCESS_KEY_ID=" + awsCreds.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + awsCreds.SecretAccessKey,
		"AWS_SESSION_TOKEN=" + awsCreds.SessionToken, "AWS_REGION=us-east-1", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null"}
	for _, kv := range awsEnv {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	if out, errOut, code := run(t, "", "secrets", "check", "--config", path); code != 0 ||
		!strings.Contains(out, "azure-keyvault:"+vaultURL+"/keys/gatehouse-issuer") || !strings.Contains(out, "aws-secretsmanager:gatehouse/azure-client-secret") {
		t.Fatalf("secrets check: exit %d\n%s%s", code, out, errOut)
	}
	ready, stderr := startServeWith(t, nil, path, "--admin-listen", "127.0.0.1:0")
	base, admin := ready["gateway"], ready["admin"]
	if strings.Contains(d.stderr.String(), `secret 2`) {
		t.Fatal("the second client secret was used before the rotation")
	}

	alice := token(t, state, "--user", "alice")
	c := &http.Client{Timeout: 30 * time.Second}
	var ok, failed atomic.Int64
	var kidsMu sync.Mutex
	kids := map[string]time.Time{} // each signing key's first verified assertion
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				r := call(t, c, "GET", base+"/api/whoami", alice, "")
				var w struct {
					Identity struct {
						KeyID string `json:"key_id"`
						Error string `json:"error"`
					} `json:"identity"`
				}
				json.Unmarshal([]byte(r.body), &w)
				if r.status != 200 || w.Identity.KeyID == "" {
					failed.Add(1)
					t.Logf("request failed: %d %s", r.status, w.Identity.Error)
					continue
				}
				ok.Add(1)
				kidsMu.Lock()
				if _, seen := kids[w.Identity.KeyID]; !seen {
					kids[w.Identity.KeyID] = time.Now()
				}
				kidsMu.Unlock()
			}
		})
	}
	time.Sleep(time.Second)

	// The client secret rotates in Secrets Manager; serve's next token
	// request (at the refresh, whose vault reads follow the client secret)
	// authenticates with the new one.
	if _, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("gatehouse/azure-client-secret"), SecretString: aws.String(vaultSecret2)}); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := run(t, "", "secrets", "refresh", "--admin", admin); code != 0 {
		t.Errorf("secrets refresh after the client secret rotation: exit %d\n%s%s", code, out, errOut)
	}
	if log := d.stderr.String(); !regexp.MustCompile(`client.{0,4}` + vaultAppID + `.{0,8}credential.{0,4}secret 2`).MatchString(log) {
		t.Errorf("no token request with the app's second secret after the rotation (the IdP's log)")
	}

	// The key rotates in the vault: a new version (EC P-256).
	rotated := time.Now()
	kty, crv := azkeys.KeyTypeEC, azkeys.CurveNameP256
	if _, err := kvKeys.CreateKey(ctx, "gatehouse-issuer", azkeys.CreateKeyParameters{Kty: &kty, Curve: &crv}, nil); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{admin, d.ready.Admin} {
		if out, errOut, code := run(t, "", "secrets", "refresh", "--admin", a); code != 0 {
			t.Errorf("secrets refresh at %s: exit %d\n%s%s", a, code, out, errOut)
		}
	}
	var newKid string
	for deadline := time.Now().Add(60 * time.Second); newKid == "" && time.Now().Before(deadline); {
		time.Sleep(500 * time.Millisecond)
		kidsMu.Lock()
		for kid, first := range kids {
			if first.After(rotated) {
				newKid = kid
			}
		}
		kidsMu.Unlock()
	}
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	if newKid == "" {
		t.Fatalf("no assertion signed with the new key version within 60 s")
	}
	if at := kids[newKid].Sub(rotated); at < 25*time.Second {
		t.Errorf("the new key version signed %s after the rotation, before its 25 s publish-ahead time", at)
	}
	if failed.Load() != 0 || ok.Load() < 10 {
		t.Errorf("under rotation: %d requests answered 200, %d failed; want none failed", ok.Load(), failed.Load())
	}
	if out, errOut, code := run(t, "", "audit", "verify", "--config", path); code != 0 || !strings.Contains(out, "ok: ") {
		t.Errorf("audit verify: exit %d\n%s%s", code, out, errOut)
	}

	metrics := get(t, admin+"/metrics")
	for name, where := range map[string]string{"serve's log": stderr.String(), "metrics": metrics, "/secrets": get(t, admin+"/secrets"), "dev's log": d.stderr.String()} {
		for _, v := range []string{vaultSecret1, vaultSecret2, auditKey, strings.Repeat("q", 32)} {
			if strings.Contains(where, v) {
				t.Errorf("a secret value shows in %s", name)
			}
		}
	}
	if !strings.Contains(metrics, `gatehouse_secret_usable{secret="azure-keyvault:`+vaultURL+`/keys/gatehouse-issuer"} 1`) {
		t.Errorf("metrics lack the vault key's state")
	}
}
