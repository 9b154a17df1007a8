package secrets

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/gatehouse-dev/gatehouse/internal/privatefile"
)

// MaxBytes bounds a secret's value: Secrets Manager allows 64 KiB, Key
// Vault 25 KB.
const MaxBytes = 64 << 10

// Value is a secret's bytes and the version of the store they came from
// (a Secrets Manager version id, a Key Vault version, a file's
// modification time): the version may be logged, the bytes never.
type Value struct {
	Bytes   []byte
	Version string
}

// Source reads a secret's current value from its store.
type Source interface {
	// Fetch returns the current value. Its error never holds the value.
	Fetch(ctx context.Context) (Value, error)
	// String names the reference (never the value): for errors, logs and
	// metric labels.
	String() string
}

// FileSource reads a file that gatehouse alone may read (0600 or
// stricter; see internal/privatefile), or with Public any readable file:
// for what is refreshed like a secret but is not one (a certificate).
type FileSource struct {
	// Path is the file; Name is how the configuration names it.
	Path, Name string
	Public     bool
}

func (s FileSource) String() string { return "file:" + s.Name }

// Fetch reads the file.
func (s FileSource) Fetch(context.Context) (Value, error) {
	if s.Public {
		return readPublic(s.Path)
	}
	b, fi, err := privatefile.Read(s.Path, MaxBytes)
	if err != nil {
		return Value{}, err
	}
	return Value{Bytes: b, Version: fi.ModTime().UTC().Format(time.RFC3339Nano)}, nil
}

// readPublic reads a regular file of at most MaxBytes, whatever its mode.
func readPublic(path string) (Value, error) {
	f, err := os.Open(path)
	if err != nil {
		return Value{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Value{}, err
	}
	if !fi.Mode().IsRegular() {
		return Value{}, fmt.Errorf("%s is not a regular file", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxBytes+1))
	if err != nil {
		return Value{}, err
	}
	if len(b) > MaxBytes {
		return Value{}, fmt.Errorf("%s is larger than %d bytes", path, MaxBytes)
	}
	return Value{Bytes: b, Version: fi.ModTime().UTC().Format(time.RFC3339Nano)}, nil
}

// SecretsManagerAPI is the call AWSSource makes: *secretsmanager.Client
// has it.
type SecretsManagerAPI interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// AWSSource reads a secret of AWS Secrets Manager.
type AWSSource struct {
	Client SecretsManagerAPI
	// SecretID is the name or ARN; Stage the version stage ("" means
	// AWSCURRENT); JSONKey, if set, a top-level key of a JSON secret
	// string.
	SecretID, Stage, JSONKey string
}

func (s AWSSource) String() string {
	r := "aws-secretsmanager:" + s.SecretID
	if s.JSONKey != "" {
		r += "#" + s.JSONKey
	}
	if s.Stage != "" {
		r += "@" + s.Stage
	}
	return r
}

// Fetch calls GetSecretValue.
func (s AWSSource) Fetch(ctx context.Context) (Value, error) {
	in := &secretsmanager.GetSecretValueInput{SecretId: aws.String(s.SecretID)}
	if s.Stage != "" {
		in.VersionStage = aws.String(s.Stage)
	}
	out, err := s.Client.GetSecretValue(ctx, in)
	if err != nil {
		return Value{}, err
	}
	var b []byte
	switch {
	case out.SecretString != nil:
		b = []byte(*out.SecretString)
	case out.SecretBinary != nil:
		b = out.SecretBinary
	}
	if s.JSONKey != "" {
		if out.SecretString == nil {
			return Value{}, fmt.Errorf("json_key %q: the secret is binary, not a JSON string", s.JSONKey)
		}
		if b, err = jsonKey(b, s.JSONKey); err != nil {
			return Value{}, err
		}
	}
	return Value{Bytes: b, Version: aws.ToString(out.VersionId)}, nil
}

// jsonKey returns the value of key in the JSON object doc: a string as its
// text, anything else as its JSON. Errors name the key, never the document.
func jsonKey(doc []byte, key string) ([]byte, error) {
	var m map[string]jsontext.Value
	if err := json.Unmarshal(doc, &m); err != nil {
		return nil, fmt.Errorf("json_key %q: the secret string is not a JSON object", key)
	}
	v, ok := m[key]
	if !ok {
		return nil, fmt.Errorf("json_key %q: the secret's JSON object has no such key", key)
	}
	if v.Kind() == '"' {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, fmt.Errorf("json_key %q: unreadable string", key)
		}
		return []byte(s), nil
	}
	return []byte(v), nil
}

// KeyVaultAPI is the call AzureSource makes, in terms of this package so
// the Azure SDK's client plugs in through a small adapter (package build).
type KeyVaultAPI interface {
	// GetSecret returns the value and version of a secret ("" version:
	// the latest).
	GetSecret(ctx context.Context, name, version string) (value, gotVersion string, err error)
}

// AzureSource reads a secret of Azure Key Vault.
type AzureSource struct {
	Client KeyVaultAPI
	// Vault is the vault URL (for String); Name and Version the secret.
	Vault, Name, Version string
}

func (s AzureSource) String() string { return keyVaultRef(s.Vault, "secrets", s.Name, s.Version) }

// keyVaultRef names a Key Vault object: azure-keyvault:VAULT/KIND/NAME[/VERSION].
func keyVaultRef(vault, kind, name, version string) string {
	r := "azure-keyvault:" + strings.TrimRight(vault, "/") + "/" + kind + "/" + name
	if version != "" {
		r += "/" + version
	}
	return r
}

// Fetch gets the secret.
func (s AzureSource) Fetch(ctx context.Context) (Value, error) {
	v, ver, err := s.Client.GetSecret(ctx, s.Name, s.Version)
	if err != nil {
		return Value{}, err
	}
	return Value{Bytes: []byte(v), Version: ver}, nil
}

// errEmpty is the error of an empty value: never a usable secret.
var errEmpty = errors.New("the secret is empty")
