package e2e

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/jackc/pgx/v5"
)

// secretsRole is a role of the local STS that may manage gatehouse's
// secrets in the local Secrets Manager: assumed with an app token of the
// development IdP, as a deployment pipeline would.
const secretsRole = `      - arn: arn:aws:iam::000000000000:role/gatehouse-secrets
        trust_policy: |
          {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"Federated": "arn:aws:iam::000000000000:oidc-provider/${idp_issuer}"},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {"${idp_issuer}:aud": "68e96204-b89d-4992-9e0e-90cc31a67403"}}}]}
        policy: |
          {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Action": "secretsmanager:*",
            "Resource": "arn:aws:secretsmanager:*:000000000000:secret:gatehouse/*"},
           {"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}
`

// TestSecretsRotation: serve takes its audit database's connection string
// and its pseudonym key from Secrets Manager, and signs its assertions and
// web-identity tokens with a KMS key (the local ones of `gatehouse dev`,
// through the AWS SDK's credential chain); gatehouse dev signs with the
// same KMS key, as a second replica would. While requests run, the
// connection string is rotated in the store and the KMS alias is pointed
// at a new key: no request fails, new connections use the new string, the
// new key is published by both before either signs with it, the old one
// stays published, the trail verifies across the rotation, and no secret
// value shows in what serve writes.
func TestSecretsRotation(t *testing.T) {
	baseDSN := os.Getenv("GATEHOUSE_TEST_POSTGRES")
	if baseDSN == "" {
		t.Skip("GATEHOUSE_TEST_POSTGRES is not set (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable)")
	}
	ctx := t.Context()
	dsnFor := newDatabase(t, baseDSN)

	// gatehouse dev, with a role that may manage gatehouse/* secrets.
	cfg, _, _ := run(t, "", "dev", "--print-config")
	cfg = strings.Replace(cfg, "  sts:\n    listen: 127.0.0.1:9444\n    roles:\n", "  sts:\n    listen: 127.0.0.1:9444\n    roles:\n"+secretsRole, 1)
	// Both sign with the KMS key behind alias/gatehouse-issuer (dev creates
	// it on first start), refresh every 10 s and publish 25 s ahead (the
	// development upstream refreshes the JWKS every 10 s).
	cfg = strings.NewReplacer(
		"creds:\n  mode: broker\n", "creds:\n  mode: broker\n  issuer:\n    signing_key:\n      aws_kms: {key_id: alias/gatehouse-issuer}\n    publish_ahead: 25s\n",
		"secrets:\n  refresh_interval: 5m\n", "secrets:\n  refresh_interval: 10s\n  aws:\n    kms_endpoint: dev\n",
	).Replace(cfg)
	if !strings.Contains(cfg, "gatehouse-secrets") || !strings.Contains(cfg, "alias/gatehouse-issuer") || !strings.Contains(cfg, "kms_endpoint: dev") {
		t.Fatalf("could not add the secrets role and the KMS key to dev's configuration:\n%s", cfg)
	}
	dir := t.TempDir()
	devPath := filepath.Join(dir, "dev.yaml")
	os.WriteFile(devPath, []byte(cfg), 0o600)
	state := filepath.Join(dir, "state")
	d := startDevConfig(t, state, devPath)

	// A deployment's credentials: web identity with an app token.
	caPEM, _ := os.ReadFile(d.ready.CAFile)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	appToken := token(t, state, "--config", devPath, "--client", "report-agent")
	stsClient := sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(d.ready.STS), HTTPClient: hc})
	provider := stscreds.NewWebIdentityRoleProvider(stsClient, "arn:aws:iam::000000000000:role/gatehouse-secrets", staticToken(appToken))
	awsCreds, err := provider.Retrieve(ctx)
	if err != nil {
		t.Fatalf("assuming the secrets role: %v", err)
	}
	sm := secretsmanager.New(secretsmanager.Options{Region: "us-east-1", BaseEndpoint: aws.String(d.ready.STS), HTTPClient: hc,
		Credentials: aws.NewCredentialsCache(provider)})
	key := make([]byte, 32)
	rand.Read(key)
	firstDSN, secondDSN := dsnFor("gatehouse-first"), dsnFor("gatehouse-second")
	for name, value := range map[string]string{"gatehouse/audit-dsn": firstDSN, "gatehouse/audit-key": base64.StdEncoding.EncodeToString(key)} {
		if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value)}); err != nil {
			t.Fatalf("CreateSecret %s: %v", name, err)
		}
	}

	// serve, configured by init --dev, with its audit secrets in the store.
	gh := filepath.Join(dir, "gh")
	addr := freePort(t)
	if out, errOut, code := run(t, "", "init", "--dev", "--state-dir", state, "--dir", gh, "--gateway-listen", addr); code != 0 {
		t.Fatalf("init --dev: %s%s", out, errOut)
	}
	path := filepath.Join(gh, "gatehouse.yaml")
	b, _ := os.ReadFile(path)
	serveCfg := strings.NewReplacer(
		"  sink: sqlite\n", "  sink: postgres\n",
		"  path: audit.db\n", "  dsn:\n    aws_secrets_manager: {secret_id: gatehouse/audit-dsn}\n",
		"  key_file: keys/audit-key\n", "  key:\n    aws_secrets_manager: {secret_id: gatehouse/audit-key}\n    encoding: base64\n",
		"secrets:\n  refresh_interval: 5m\n", fmt.Sprintf("secrets:\n  refresh_interval: 10s\n  aws:\n    endpoint: %s\n    kms_endpoint: %s\n    ca_file: %s\n", d.ready.STS, d.ready.STS, d.ready.CAFile),
	).Replace(string(b))
	serveCfg = regexp.MustCompile(`(?m)^    key_dir: .*\n`).ReplaceAllString(serveCfg,
		"    key_dir: keys/issuer\n    signing_key:\n      aws_kms: {key_id: alias/gatehouse-issuer}\n    publish_ahead: 25s\n")
	if !strings.Contains(serveCfg, "kms_endpoint: "+d.ready.STS+"\n    ca_file") || !strings.Contains(serveCfg, "gatehouse/audit-dsn") || !strings.Contains(serveCfg, "alias/gatehouse-issuer") {
		t.Fatalf("could not point serve's audit secrets at the store:\n%s", serveCfg)
	}
	os.WriteFile(path, []byte(serveCfg), 0o600)
	awsEnv := []string{"AWS_ACCESS_KEY_ID=" + awsCreds.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + awsCreds.SecretAccessKey,
		"AWS_SESSION_TOKEN=" + awsCreds.SessionToken, "AWS_REGION=us-east-1", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null"}
	withEnv := func(args ...string) (string, string, int) {
		t.Helper()
		for _, kv := range awsEnv {
			k, v, _ := strings.Cut(kv, "=")
			t.Setenv(k, v)
		}
		return run(t, "", args...)
	}
	if out, errOut, code := withEnv("serve", "--check", "--config", path); code != 0 {
		t.Fatalf("serve --check: exit %d\n%s%s", code, out, errOut)
	}
	if out, _, code := withEnv("secrets", "check", "--config", path); code != 0 || !strings.Contains(out, "aws-secretsmanager:gatehouse/audit-dsn") || !strings.Contains(out, "aws-kms:alias/gatehouse-issuer") {
		t.Fatalf("secrets check: exit %d\n%s", code, out)
	}
	ready, stderr := startServeWith(t, awsEnv, path, "--admin-listen", "127.0.0.1:0")
	base, admin := ready["gateway"], ready["admin"]

	// Bounded load while the string rotates.
	alice := token(t, state, "--user", "alice")
	c := &http.Client{Timeout: 30 * time.Second}
	var ok, failed atomic.Int64
	var kidsMu sync.Mutex
	kids := map[string][]time.Time{} // the upstream's verified assertions: when each key signed
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				// The HTTP upstream, which verifies each assertion with
				// dev's JWKS (a function route's broker credentials are
				// cached for the hour: see bob's call below for the new key
				// at STS).
				r := call(t, c, "GET", base+"/api/whoami", alice, "")
				if r.status == 200 {
					ok.Add(1)
					var w struct {
						Identity struct {
							KeyID string `json:"key_id"`
							Error string `json:"error"`
						} `json:"identity"`
					}
					json.Unmarshal([]byte(r.body), &w)
					if w.Identity.KeyID == "" {
						failed.Add(1)
						t.Logf("the upstream did not verify the assertion: %s ", w.Identity.Error)
					}
					kidsMu.Lock()
					kids[w.Identity.KeyID] = append(kids[w.Identity.KeyID], time.Now())
					kidsMu.Unlock()
				} else {
					failed.Add(1)
					t.Logf("request failed: %d %s", r.status, r.body)
				}
			}
		}()
	}
	time.Sleep(time.Second)
	if _, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("gatehouse/audit-dsn"), SecretString: aws.String(secondDSN)}); err != nil {
		t.Fatalf("rotating the connection string: %v", err)
	}
	out, errOut, code := run(t, "", "secrets", "refresh", "--admin", admin)
	if code != 0 {
		t.Errorf("secrets refresh: exit %d\n%s%s", code, out, errOut)
	}

	// The issuer key: a new KMS key (P-256 this time) behind the alias.
	// Serve and dev each see it at their next refresh (10 s + jitter) and
	// sign with it 12 s after that.
	kmsClient := kms.New(kms.Options{Region: "us-east-1", BaseEndpoint: aws.String(d.ready.STS), HTTPClient: hc,
		Credentials: aws.NewCredentialsCache(provider)})
	if _, err := kmsClient.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/gatehouse-issuer")}); err != nil {
		t.Fatalf("the issuer key dev created: %v", err)
	}
	newKey, err := kmsClient.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: kmstypes.KeySpecEccNistP256, KeyUsage: kmstypes.KeyUsageTypeSignVerify})
	if err != nil {
		t.Fatal(err)
	}
	rotated := time.Now()
	if _, err := kmsClient.UpdateAlias(ctx, &kms.UpdateAliasInput{AliasName: aws.String("alias/gatehouse-issuer"), TargetKeyId: newKey.KeyMetadata.KeyId}); err != nil {
		t.Fatal(err)
	}
	// As a rotation runbook does: both replicas read it now rather than
	// at their next refresh.
	for _, a := range []string{admin, d.ready.Admin} {
		if out, errOut, code := run(t, "", "secrets", "refresh", "--admin", a); code != 0 || !strings.Contains(out, *newKey.KeyMetadata.Arn) {
			t.Errorf("secrets refresh at %s: exit %d, want the new key's ARN\n%s%s", a, code, out, errOut)
		}
	}
	published := func() map[string]bool {
		var set struct{ Keys []struct{ Kid string } }
		resp, err := hc.Get(d.ready.Gateway + "/keys.json")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		json.NewDecoder(resp.Body).Decode(&set)
		out := map[string]bool{}
		for _, k := range set.Keys {
			out[k.Kid] = true
		}
		return out
	}
	deadline := time.Now().Add(60 * time.Second)
	var newKid string
	for newKid == "" && time.Now().Before(deadline) {
		time.Sleep(500 * time.Millisecond)
		kidsMu.Lock()
		for kid, at := range kids {
			if len(kids) > 1 && at[0].After(rotated) {
				newKid = kid
			}
		}
		kidsMu.Unlock()
	}
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	if newKid == "" {
		t.Fatalf("no assertion signed with the new key within 60 s of the rotation (keys seen: %d)", len(kids))
	}
	if first := kids[newKid][0]; first.Sub(rotated) < 25*time.Second {
		t.Errorf("the new key signed %s after the rotation, before its 25 s publish-ahead time", first.Sub(rotated))
	}
	// A caller without cached credentials: serve's web-identity token is
	// signed with the new key, and the local STS accepts it.
	bob := token(t, state, "--user", "bob")
	if r := call(t, c, "GET", base+"/whoami", bob, ""); r.status != 200 {
		t.Errorf("bob's first call after the switch (a new STS exchange): %d %s", r.status, r.body)
	}
	if p := published(); len(p) != 2 || !p[newKid] {
		t.Errorf("dev's JWKS after the switch holds %v: want the new key and the old one (its tokens live on)", p)
	}
	if failed.Load() != 0 || ok.Load() < 10 {
		t.Errorf("under rotation: %d requests answered 200, %d failed; want none failed", ok.Load(), failed.Load())
	}

	// New connections carry the new string; none is left on the old.
	conn, err := pgx.Connect(ctx, baseDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	count := func(app string) (n int) {
		conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1`, app).Scan(&n)
		return n
	}
	if count("gatehouse-second") == 0 || count("gatehouse-first") != 0 {
		t.Errorf("after the rotation: %d connections with the new string, %d with the old", count("gatehouse-second"), count("gatehouse-first"))
	}
	if out, errOut, code := withEnv("audit", "verify", "--config", path); code != 0 || !strings.Contains(out, "ok: ") {
		t.Errorf("audit verify across the rotation: exit %d\n%s%s", code, out, errOut)
	}

	// No value in anything serve wrote or answered, nor in its environment
	// (its AWS credentials are there: the SDK's chain, as on a host), nor
	// in the trail.
	metrics := get(t, admin+"/metrics")
	status := get(t, admin+"/secrets")
	environ, err := os.ReadFile("/proc/" + ready["pid"] + "/environ")
	if err != nil {
		t.Logf("serve's environment is not readable here (%v): not checked", err)
	}
	export, errOut, code := withEnv("audit", "export", "--config", path)
	if code != 0 || !strings.Contains(export, `"route":"api"`) {
		t.Errorf("audit export: exit %d\n%s%.2000s", code, errOut, export)
	}
	printed, _, _ := run(t, "", "dev", "--print-config", "--config", devPath)
	for name, where := range map[string]string{"serve's log": stderr.String(), "metrics": metrics, "/secrets": status, "secrets refresh": out,
		"serve's environment": string(environ), "the audit trail": export, "dev --print-config": printed, "serve's configuration": serveCfg} {
		values := []string{firstDSN, secondDSN, base64.StdEncoding.EncodeToString(key), string(key)}
		if name != "serve's environment" {
			values = append(values, awsCreds.SecretAccessKey, awsCreds.SessionToken)
		}
		for _, v := range values {
			if strings.Contains(where, v) {
				t.Errorf("a secret value shows in %s:\n%.2000s", name, where)
			}
		}
	}
	if !strings.Contains(metrics, `gatehouse_secret_usable{secret="aws-secretsmanager:gatehouse/audit-dsn"} 1`) ||
		!strings.Contains(metrics, `gatehouse_secret_usable{secret="aws-kms:alias/gatehouse-issuer"} 1`) {
		t.Errorf("metrics lack the secret's state:\n%s", metrics)
	}
}

type staticToken string

func (s staticToken) GetIdentityToken() ([]byte, error) { return []byte(s), nil }

// newDatabase creates a database for one test (dropped at its end) and
// returns how to reach it with a given application name.
func newDatabase(t *testing.T, baseDSN string) func(app string) string {
	t.Helper()
	name := "gatehouse_e2e_" + strings.ToLower(rand.Text()[:10])
	conn, err := pgx.Connect(t.Context(), baseDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(t.Context(), "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), baseDSN)
		if err != nil {
			return
		}
		defer conn.Close(context.Background())
		conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	cfg, err := pgx.ParseConfig(baseDSN)
	if err != nil {
		t.Fatal(err)
	}
	return func(app string) string {
		return fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable&application_name=%s", cfg.User, cfg.Host, cfg.Port, name, app)
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
