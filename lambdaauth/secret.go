package lambdaauth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
)

// Secret returns a secret's bytes: a key the Guard needs at init. It is
// called once, from New, with New's context. Its error must not contain the
// secret.
//
// SecretFile reads a file; SecretsManager reads AWS Secrets Manager (the
// execution role then needs secretsmanager:GetSecretValue on that secret,
// and kms:Decrypt on its key if it is a customer-managed one). Any other
// store plugs in as a function.
type Secret func(ctx context.Context) ([]byte, error)

// maxSecretBytes bounds what SecretFile reads.
const maxSecretBytes = 64 << 10

// SecretFile returns a Secret read from the file at path: in the deployment
// package (relative paths are the caller's to resolve, such as against
// LAMBDA_TASK_ROOT) or on a mounted volume. The bytes are used as they are
// (no trimming), as gatehouse's own key files are. A file that other users
// or its group may write is refused, and so is one over 64 KiB.
//
// A file in the deployment package can be read by whoever can download the
// function's code (lambda:GetFunction): prefer a secret store where that
// matters.
func SecretFile(path string) Secret {
	return func(context.Context) ([]byte, error) {
		fh, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("lambdaauth: secret file: %w", err)
		}
		defer fh.Close()
		fi, err := fh.Stat()
		if err != nil {
			return nil, fmt.Errorf("lambdaauth: secret file: %w", err)
		}
		if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("lambdaauth: secret file %s is not a regular file", path)
		}
		if runtime.GOOS != "windows" && fi.Mode().Perm()&0o022 != 0 {
			return nil, fmt.Errorf("lambdaauth: secret file %s may be written by other users (mode %04o)", path, fi.Mode().Perm())
		}
		var buf bytes.Buffer
		if _, err := buf.ReadFrom(io.LimitReader(fh, maxSecretBytes+1)); err != nil {
			return nil, fmt.Errorf("lambdaauth: secret file: %w", err)
		}
		if buf.Len() > maxSecretBytes {
			return nil, fmt.Errorf("lambdaauth: secret file %s is larger than %d bytes", path, maxSecretBytes)
		}
		if buf.Len() == 0 {
			return nil, fmt.Errorf("lambdaauth: secret file %s is empty", path)
		}
		return buf.Bytes(), nil
	}
}

// SecretBytes returns a Secret holding b, for a key the program already
// has (embedded at build time, or fetched by its own code).
func SecretBytes(b []byte) Secret {
	b = bytes.Clone(b)
	return func(context.Context) ([]byte, error) {
		if len(b) == 0 {
			return nil, errors.New("lambdaauth: empty secret")
		}
		return bytes.Clone(b), nil
	}
}
