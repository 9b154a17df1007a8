package keyvault

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sync"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
)

// TestConcurrentClients: clients setting, reading, signing and rotating at
// once on one vault (with a state file) see consistent answers; run with
// -race.
func TestConcurrentClients(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *Config) { c.StateFile = t.TempDir() + "/state.json" })
	if _, err := f.vault.CreateKey("shared", KeySpec{Type: "EC"}); err != nil {
		t.Fatal(err)
	}
	cred := f.credential(t, tenantID, clientID, clientSecret)
	secrets, keys := f.secrets(t, cred), f.keys(t, cred)
	ctx := context.Background()
	digest := sha256.Sum256([]byte("m"))
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 5 {
				value := fmt.Sprintf("v%d-%d", g, i)
				set, err := secrets.SetSecret(ctx, "shared", azsecrets.SetSecretParameters{Value: &value}, nil)
				if err != nil {
					t.Error(err)
					return
				}
				if got, err := secrets.GetSecret(ctx, "shared", set.ID.Version(), nil); err != nil || *got.Value != value {
					t.Errorf("read back %v, %v; want %s", got.Value, err, value)
				}
				sig, err := keys.Sign(ctx, "shared", "", azkeys.SignParameters{Algorithm: to.Ptr(azkeys.SignatureAlgorithmES256), Value: digest[:]}, nil)
				if err != nil {
					t.Error(err)
					return
				}
				ok, err := keys.Verify(ctx, "shared", sig.KID.Version(), azkeys.VerifyParameters{Algorithm: to.Ptr(azkeys.SignatureAlgorithmES256), Digest: digest[:], Signature: sig.Result}, nil)
				if err != nil || !*ok.Value {
					t.Errorf("verify with the signing version = %v, %v", ok.Value, err)
				}
				if i == 2 {
					if _, err := keys.RotateKey(ctx, "shared", nil); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
	n := 0
	for p := secrets.NewListSecretPropertiesVersionsPager("shared", nil); p.More(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n += len(page.Value)
	}
	if n != 20 {
		t.Errorf("%d versions, want 20", n)
	}
}
