package lambdaauth_test

import (
	"context"
	"encoding/base64"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	awssts "github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/gatehouse-dev/gatehouse/devkit/secretsmanager"
	"github.com/gatehouse-dev/gatehouse/devkit/sts"
	"github.com/gatehouse-dev/gatehouse/internal/testkit"
	"github.com/gatehouse-dev/gatehouse/lambdaauth"
)

// SecretsManager against the local Secrets Manager with the AWS SDK's
// client, signed by a session of the local STS as an execution role's
// would be: the value (whole, a JSON key, base64), reuse within the TTL,
// a new read after it, and a refusal that fails closed.
func TestSecretsManagerSecret(t *testing.T) {
	const account, region = "123456789012", "us-east-1"
	issuer := testkit.NewIssuer(t, testkit.IssuerConfig{})
	provider := strings.TrimPrefix(issuer.URL(), "https://")
	stsSrv, err := sts.New(sts.Config{AccountID: account, Region: region, HTTPClient: issuer.Client(), Logger: slog.New(slog.DiscardHandler),
		Providers: []sts.Provider{{URL: issuer.URL(), ClientIDs: []string{"sts.amazonaws.com"}}},
		Roles: []sts.Role{{Name: "fn", TrustPolicy: []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
			"Principal":{"Federated":"arn:aws:iam::` + account + `:oidc-provider/` + provider + `"},"Action":"sts:AssumeRoleWithWebIdentity"}]}`),
			Policy: []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"secretsmanager:GetSecretValue",
			"Resource":"arn:aws:secretsmanager:us-east-1:123456789012:secret:fn/*"}]}`)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	stsTS := httptest.NewTLSServer(stsSrv.Handler())
	defer stsTS.Close()
	store, err := secretsmanager.New(secretsmanager.Config{Account: account, Region: region, STS: stsSrv, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	smTS := httptest.NewTLSServer(store.Handler())
	defer smTS.Close()

	ctx := context.Background()
	now := time.Now()
	out, err := awssts.New(awssts.Options{Region: region, BaseEndpoint: aws.String(stsTS.URL), HTTPClient: stsTS.Client(), Credentials: aws.AnonymousCredentials{}}).
		AssumeRoleWithWebIdentity(ctx, &awssts.AssumeRoleWithWebIdentityInput{
			RoleArn: aws.String("arn:aws:iam::" + account + ":role/fn"), RoleSessionName: aws.String("fn"),
			WebIdentityToken: aws.String(issuer.Sign(map[string]any{"iss": issuer.URL(), "sub": "fn", "aud": "sts.amazonaws.com", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()})),
		})
	if err != nil {
		t.Fatal(err)
	}
	c := out.Credentials
	client := sm.New(sm.Options{Region: region, BaseEndpoint: aws.String(smTS.URL), HTTPClient: smTS.Client(), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(*c.AccessKeyId, *c.SecretAccessKey, *c.SessionToken)})

	key := strings.Repeat("k", 32)
	store.PutSecret("fn/pseudonym-key", []byte(base64.StdEncoding.EncodeToString([]byte(key))))
	store.PutSecret("fn/config", []byte(`{"dsn":"postgres://db/x","other":1}`))
	store.PutSecret("other/key", []byte("not the function's"))

	get := func(s lambdaauth.Secret) string {
		t.Helper()
		b, err := s(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	pseudo := lambdaauth.SecretsManager(client, "fn/pseudonym-key", lambdaauth.SecretsManagerOptions{Base64: true, TTL: time.Hour})
	if got := get(pseudo); got != key {
		t.Errorf("base64 secret: %q", got)
	}
	if got := get(lambdaauth.SecretsManager(client, "fn/config", lambdaauth.SecretsManagerOptions{JSONKey: "dsn"})); got != "postgres://db/x" {
		t.Errorf("JSON key: %q", got)
	}
	// Within the TTL the environment reuses what it read; after it, it
	// reads again.
	store.PutSecret("fn/pseudonym-key", []byte(base64.StdEncoding.EncodeToString([]byte(strings.Repeat("n", 32)))))
	if got := get(pseudo); got != key {
		t.Errorf("within the TTL: %q, want the value read before", got)
	}
	short := lambdaauth.SecretsManager(client, "fn/pseudonym-key", lambdaauth.SecretsManagerOptions{Base64: true, TTL: time.Millisecond})
	get(short)
	time.Sleep(5 * time.Millisecond)
	if got := get(short); got != strings.Repeat("n", 32) {
		t.Errorf("after the TTL: %q, want the rotated value", got)
	}
	// A secret the role may not read: an error, naming the reference.
	if b, err := lambdaauth.SecretsManager(client, "other/key", lambdaauth.SecretsManagerOptions{})(ctx); err == nil || b != nil ||
		!strings.Contains(err.Error(), "aws-secretsmanager:other/key") || !strings.Contains(err.Error(), "AccessDenied") {
		t.Errorf("refused secret: %q %v", b, err)
	}
}
