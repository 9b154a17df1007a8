package keyvault

import (
	"context"
	"crypto/sha256"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
)

// BenchmarkSign: one azkeys Sign through the vault over loopback TLS, the
// token cached by the credential and the challenge already answered: what
// a service signing JWTs with a development key pays per signature.
//
//	go test -run '^$' -bench BenchmarkSign -benchtime 2s ./devkit/keyvault/
func BenchmarkSign(b *testing.B) {
	f := newFixture(b)
	c := f.keys(b, f.credential(b, tenantID, clientID, clientSecret))
	digest := sha256.Sum256([]byte("header.payload"))
	for _, bc := range []struct {
		name string
		spec KeySpec
		alg  azkeys.SignatureAlgorithm
	}{
		{"RS256-RSA2048", KeySpec{Type: "RSA", Size: 2048}, azkeys.SignatureAlgorithmRS256},
		{"ES256-P256", KeySpec{Type: "EC", Curve: "P-256"}, azkeys.SignatureAlgorithmES256},
	} {
		b.Run(bc.name, func(b *testing.B) {
			if _, err := f.vault.CreateKey(bc.name, bc.spec); err != nil {
				b.Fatal(err)
			}
			params := azkeys.SignParameters{Algorithm: to.Ptr(bc.alg), Value: digest[:]}
			ctx := context.Background()
			// The first call answers the challenge and gets the token;
			// b.Loop starts the timer after it.
			if _, err := c.Sign(ctx, bc.name, "", params, nil); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := c.Sign(ctx, bc.name, "", params, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
