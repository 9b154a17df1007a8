package lambdaauth

import (
	"context"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/secrets"
)

// SecretsManagerOptions says which value of a Secrets Manager secret a
// Secret returns, and for how long it is reused.
type SecretsManagerOptions struct {
	// JSONKey takes that top-level key of a JSON secret string.
	JSONKey string
	// VersionStage is the stage read; "" means AWSCURRENT.
	VersionStage string
	// Base64 decodes the value (a binary key kept as text).
	Base64 bool
	// TTL is how long a read value is reused by this execution
	// environment before the next call reads it again; 0 means 5 minutes.
	TTL time.Duration
}

// SecretsManager returns a Secret read from AWS Secrets Manager with
// client (the AWS SDK's *secretsmanager.Client, made with the function's
// configuration: its execution role needs secretsmanager:GetSecretValue
// on the secret). The value is cached in the execution environment for
// TTL, so warm invocations and several Guards share one read; a failed
// read after TTL returns the error (the Guard fails closed) rather than a
// value that may have been revoked.
func SecretsManager(client secrets.SecretsManagerAPI, secretID string, o SecretsManagerOptions) Secret {
	if o.TTL <= 0 {
		o.TTL = 5 * time.Minute
	}
	enc := secrets.Raw
	if o.Base64 {
		enc = secrets.Base64
	}
	src := secrets.AWSSource{Client: client, SecretID: secretID, Stage: o.VersionStage, JSONKey: o.JSONKey}
	set := secrets.New(secrets.Config{RefreshInterval: o.TTL, MaxAge: o.TTL})
	sec := set.Add(src, enc)
	var mu sync.Mutex
	var read time.Time
	return func(ctx context.Context) ([]byte, error) {
		mu.Lock()
		defer mu.Unlock()
		if read.IsZero() || time.Since(read) >= o.TTL {
			if err := sec.Refresh(ctx); err != nil {
				return nil, err
			}
			read = time.Now()
		}
		v, err := sec.Get()
		return v.Bytes, err
	}
}
