package kms

import (
	"io"
	"log/slog"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// BenchmarkSign measures Sign through the double as a caller sees it: the
// AWS SDK's KMS client over loopback TLS (one kept-alive connection),
// SigV4 signing and checking, the IAM policy decision, the JSON protocol
// and the signature itself, of a 64-byte RAW message. The server logs JSON
// to nowhere, as a real one logs. Run it with
//
//	go test -run XXX -bench Sign -benchtime 2000x ./devkit/kms
func BenchmarkSign(b *testing.B) {
	for _, tc := range []struct {
		spec string
		alg  types.SigningAlgorithmSpec
	}{
		{"RSA_2048", types.SigningAlgorithmSpecRsassaPkcs1V15Sha256},
		{"ECC_NIST_P256", types.SigningAlgorithmSpecEcdsaSha256},
	} {
		b.Run(tc.spec, func(b *testing.B) {
			f := newFixture(b, func(c *Config) { c.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil)) })
			id, err := f.srv.CreateKey(tc.spec, "bench")
			if err != nil {
				b.Fatal(err)
			}
			c := f.client(f.creds(b, "admin", ""))
			ctx := testContext(b)
			in := &kms.SignInput{KeyId: aws.String(id), Message: make([]byte, 64), SigningAlgorithm: tc.alg}
			if _, err := c.Sign(ctx, in); err != nil { // connect, warm up
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := c.Sign(ctx, in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
