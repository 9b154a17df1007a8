package keyvault

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/asn1"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
)

func azkeysRSA(size int32) azkeys.CreateKeyParameters {
	return azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeRSA), KeySize: to.Ptr(size)}
}

func azkeysEC(crv azkeys.CurveName) azkeys.CreateKeyParameters {
	return azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeEC), Curve: to.Ptr(crv)}
}

// publicKey rebuilds the public key from the JWK the client got.
func publicKey(t testing.TB, jwk *azkeys.JSONWebKey) crypto.PublicKey {
	t.Helper()
	if jwk.D != nil || jwk.P != nil || jwk.Q != nil || jwk.DP != nil || jwk.DQ != nil || jwk.QI != nil || jwk.K != nil {
		t.Fatal("the JWK carries private members")
	}
	switch *jwk.Kty {
	case azkeys.KeyTypeRSA:
		return &rsa.PublicKey{N: new(big.Int).SetBytes(jwk.N), E: int(new(big.Int).SetBytes(jwk.E).Int64())}
	case azkeys.KeyTypeEC:
		curve := map[azkeys.CurveName]elliptic.Curve{azkeys.CurveNameP256: elliptic.P256(), azkeys.CurveNameP384: elliptic.P384()}[*jwk.Crv]
		pub, err := ecdsa.ParseUncompressedPublicKey(curve, append(append([]byte{4}, jwk.X...), jwk.Y...))
		if err != nil {
			t.Fatalf("EC JWK: %v", err)
		}
		return pub
	}
	t.Fatalf("kty %s", *jwk.Kty)
	return nil
}

// verifyLocally checks a signature the vault made with the standard
// library alone: PKCS #1 v1.5, PSS (salt as long as the hash), or JWS r||s.
func verifyLocally(t testing.TB, pub crypto.PublicKey, alg azkeys.SignatureAlgorithm, digest, sig []byte) {
	t.Helper()
	hash := map[azkeys.SignatureAlgorithm]crypto.Hash{
		azkeys.SignatureAlgorithmRS256: crypto.SHA256, azkeys.SignatureAlgorithmPS256: crypto.SHA256,
		azkeys.SignatureAlgorithmRS512: crypto.SHA512, azkeys.SignatureAlgorithmES256: crypto.SHA256, azkeys.SignatureAlgorithmES384: crypto.SHA384,
	}[alg]
	var err error
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if strings.HasPrefix(string(alg), "PS") {
			err = rsa.VerifyPSS(k, hash, digest, sig, &rsa.PSSOptions{SaltLength: hash.Size()})
		} else {
			err = rsa.VerifyPKCS1v15(k, hash, digest, sig)
		}
	case *ecdsa.PublicKey:
		n := (k.Curve.Params().BitSize + 7) / 8
		if len(sig) != 2*n {
			t.Fatalf("%s signature is %d bytes, want r||s of %d", alg, len(sig), 2*n)
		}
		der, _ := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(sig[:n]), new(big.Int).SetBytes(sig[n:])})
		if !ecdsa.VerifyASN1(k, digest, der) {
			err = rsa.ErrVerification
		}
	}
	if err != nil {
		t.Errorf("%s signature does not verify locally: %v", alg, err)
	}
}

// TestKeysWithSDK drives azkeys: create RSA and EC keys, sign with RS256,
// PS256, ES256 and ES384 and check every signature locally against the JWK
// the client got, verify in the vault, rotate, list versions, disable.
func TestKeysWithSDK(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	c := f.keys(t, f.credential(t, tenantID, clientID, clientSecret))
	digest := sha256.Sum256([]byte("the message"))
	digest384 := sha512.Sum384([]byte("the message"))
	digest512 := sha512.Sum512([]byte("the message"))

	rsaKey, err := c.CreateKey(ctx, "signer-rsa", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeRSA), KeySize: to.Ptr[int32](2048),
		KeyOps: []*azkeys.KeyOperation{to.Ptr(azkeys.KeyOperationSign), to.Ptr(azkeys.KeyOperationVerify)},
		Tags:   map[string]*string{"use": to.Ptr("jwt")}}, nil)
	if err != nil {
		t.Fatalf("CreateKey RSA: %v", err)
	}
	if rsaKey.Key.KID.Name() != "signer-rsa" || len(rsaKey.Key.KID.Version()) != 32 || *rsaKey.Tags["use"] != "jwt" ||
		len(rsaKey.Key.KeyOps) != 2 || *rsaKey.Attributes.Exportable || !*rsaKey.Attributes.Enabled {
		t.Errorf("CreateKey answered %+v %+v", rsaKey.Key, rsaKey.Attributes)
	}
	rsaPub := publicKey(t, rsaKey.Key).(*rsa.PublicKey)
	if rsaPub.N.BitLen() != 2048 || rsaPub.E != 65537 {
		t.Errorf("RSA key %d bits, e %d", rsaPub.N.BitLen(), rsaPub.E)
	}
	got, err := c.GetKey(ctx, "signer-rsa", "", nil)
	if err != nil || *got.Key.KID != *rsaKey.Key.KID || publicKey(t, got.Key).(*rsa.PublicKey).N.Cmp(rsaPub.N) != 0 {
		t.Fatalf("GetKey = %+v, %v", got.Key, err)
	}

	for _, tc := range []struct {
		alg    azkeys.SignatureAlgorithm
		digest []byte
	}{{azkeys.SignatureAlgorithmRS256, digest[:]}, {azkeys.SignatureAlgorithmPS256, digest[:]}, {azkeys.SignatureAlgorithmRS512, digest512[:]}} {
		sig, err := c.Sign(ctx, "signer-rsa", "", azkeys.SignParameters{Algorithm: to.Ptr(tc.alg), Value: tc.digest}, nil)
		if err != nil {
			t.Fatalf("Sign %s: %v", tc.alg, err)
		}
		if *sig.KID != *rsaKey.Key.KID {
			t.Errorf("Sign kid %s, want the versioned %s", *sig.KID, *rsaKey.Key.KID)
		}
		verifyLocally(t, rsaPub, tc.alg, tc.digest, sig.Result)
		ok, err := c.Verify(ctx, "signer-rsa", rsaKey.Key.KID.Version(), azkeys.VerifyParameters{Algorithm: to.Ptr(tc.alg), Digest: tc.digest, Signature: sig.Result}, nil)
		if err != nil || !*ok.Value {
			t.Errorf("Verify %s = %v, %v", tc.alg, ok.Value, err)
		}
	}
	bad, err := c.Verify(ctx, "signer-rsa", "", azkeys.VerifyParameters{Algorithm: to.Ptr(azkeys.SignatureAlgorithmRS256), Digest: digest[:], Signature: make([]byte, 256)}, nil)
	if err != nil || *bad.Value {
		t.Errorf("Verify of a zero signature = %v, %v", bad.Value, err)
	}

	for _, tc := range []struct {
		crv    azkeys.CurveName
		alg    azkeys.SignatureAlgorithm
		digest []byte
	}{{azkeys.CurveNameP256, azkeys.SignatureAlgorithmES256, digest[:]}, {azkeys.CurveNameP384, azkeys.SignatureAlgorithmES384, digest384[:]}} {
		name := "signer-" + strings.ToLower(string(tc.crv))
		ecKey, err := c.CreateKey(ctx, name, azkeysEC(tc.crv), nil)
		if err != nil {
			t.Fatalf("CreateKey EC %s: %v", tc.crv, err)
		}
		if *ecKey.Key.Crv != tc.crv || ecKey.Key.N != nil || len(ecKey.Key.KeyOps) != 2 {
			t.Errorf("EC JWK %+v", ecKey.Key)
		}
		sig, err := c.Sign(ctx, name, "", azkeys.SignParameters{Algorithm: to.Ptr(tc.alg), Value: tc.digest}, nil)
		if err != nil {
			t.Fatalf("Sign %s: %v", tc.alg, err)
		}
		verifyLocally(t, publicKey(t, ecKey.Key), tc.alg, tc.digest, sig.Result)
		ok, err := c.Verify(ctx, name, "", azkeys.VerifyParameters{Algorithm: to.Ptr(tc.alg), Digest: tc.digest, Signature: sig.Result}, nil)
		if err != nil || !*ok.Value {
			t.Errorf("Verify %s = %v, %v", tc.alg, ok.Value, err)
		}
	}

	// Refusals a real vault makes: an algorithm for another key type, a
	// digest of the wrong length, an operation not in key_ops.
	_, err = c.Sign(ctx, "signer-p-256", "", azkeys.SignParameters{Algorithm: to.Ptr(azkeys.SignatureAlgorithmRS256), Value: digest[:]}, nil)
	wantResponseError(t, err, http.StatusBadRequest, "BadParameter", "does not fit this key (EC P-256)")
	_, err = c.Sign(ctx, "signer-p-256", "", azkeys.SignParameters{Algorithm: to.Ptr(azkeys.SignatureAlgorithmES384), Value: digest384[:]}, nil)
	wantResponseError(t, err, http.StatusBadRequest, "BadParameter", "does not fit this key")
	_, err = c.Sign(ctx, "signer-rsa", "", azkeys.SignParameters{Algorithm: to.Ptr(azkeys.SignatureAlgorithmRS256), Value: digest512[:]}, nil)
	wantResponseError(t, err, http.StatusBadRequest, "BadParameter", "must be 32 bytes")
	_, err = c.Encrypt(ctx, "signer-rsa", "", azkeys.KeyOperationParameters{Algorithm: to.Ptr(azkeys.EncryptionAlgorithmRSAOAEP256), Value: []byte("x")}, nil)
	wantResponseError(t, err, http.StatusNotImplemented, "NotImplemented", "not implemented")
	if _, err := c.UpdateKey(ctx, "signer-rsa", "", azkeys.UpdateKeyParameters{KeyOps: []*azkeys.KeyOperation{to.Ptr(azkeys.KeyOperationVerify)}}, nil); err != nil {
		t.Fatal(err)
	}
	_, err = c.Sign(ctx, "signer-rsa", "", azkeys.SignParameters{Algorithm: to.Ptr(azkeys.SignatureAlgorithmRS256), Value: digest[:]}, nil)
	wantResponseError(t, err, http.StatusForbidden, "Forbidden", "Operation sign is not permitted on this key")
	if _, err := c.UpdateKey(ctx, "signer-rsa", "", azkeys.UpdateKeyParameters{KeyOps: []*azkeys.KeyOperation{to.Ptr(azkeys.KeyOperationSign), to.Ptr(azkeys.KeyOperationVerify)}}, nil); err != nil {
		t.Fatal(err)
	}

	// Rotate: a new current version of the same kind; the old one still signs by id.
	rot, err := c.RotateKey(ctx, "signer-rsa", nil)
	if err != nil {
		t.Fatalf("RotateKey: %v", err)
	}
	if rot.Key.KID.Version() == rsaKey.Key.KID.Version() || *rot.Key.Kty != azkeys.KeyTypeRSA || *rot.Tags["use"] != "jwt" ||
		publicKey(t, rot.Key).(*rsa.PublicKey).N.Cmp(rsaPub.N) == 0 {
		t.Errorf("RotateKey = %+v", rot.Key)
	}
	sig, err := c.Sign(ctx, "signer-rsa", "", azkeys.SignParameters{Algorithm: to.Ptr(azkeys.SignatureAlgorithmRS256), Value: digest[:]}, nil)
	if err != nil || *sig.KID != *rot.Key.KID {
		t.Fatalf("Sign after rotation: kid %v, %v", sig.KID, err)
	}
	verifyLocally(t, publicKey(t, rot.Key), azkeys.SignatureAlgorithmRS256, digest[:], sig.Result)
	if sig, err := c.Sign(ctx, "signer-rsa", rsaKey.Key.KID.Version(), azkeys.SignParameters{Algorithm: to.Ptr(azkeys.SignatureAlgorithmRS256), Value: digest[:]}, nil); err != nil {
		t.Errorf("Sign with the old version: %v", err)
	} else {
		verifyLocally(t, rsaPub, azkeys.SignatureAlgorithmRS256, digest[:], sig.Result)
	}
	var versions []string
	for p := c.NewListKeyPropertiesVersionsPager("signer-rsa", nil); p.More(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, kp := range page.Value {
			versions = append(versions, kp.KID.Version())
		}
	}
	if strings.Join(versions, ",") != rsaKey.Key.KID.Version()+","+rot.Key.KID.Version() {
		t.Errorf("versions %v", versions)
	}

	// Disable the current version: it refuses sign and verify; enable it again.
	upd, err := c.UpdateKey(ctx, "signer-rsa", "", azkeys.UpdateKeyParameters{KeyAttributes: &azkeys.KeyAttributes{Enabled: to.Ptr(false)}}, nil)
	if err != nil || *upd.Attributes.Enabled {
		t.Fatalf("UpdateKey disable = %+v, %v", upd.Attributes, err)
	}
	_, err = c.Sign(ctx, "signer-rsa", "", azkeys.SignParameters{Algorithm: to.Ptr(azkeys.SignatureAlgorithmRS256), Value: digest[:]}, nil)
	wantResponseError(t, err, http.StatusForbidden, "Forbidden", "Operation sign is not allowed on a disabled key.")
	_, err = c.Verify(ctx, "signer-rsa", "", azkeys.VerifyParameters{Algorithm: to.Ptr(azkeys.SignatureAlgorithmRS256), Digest: digest[:], Signature: sig.Result}, nil)
	wantResponseError(t, err, http.StatusForbidden, "Forbidden", "disabled key")
	if g, err := c.GetKey(ctx, "signer-rsa", "", nil); err != nil || *g.Attributes.Enabled {
		t.Errorf("GetKey of a disabled key = %v, %v", g.Attributes, err)
	}
	if _, err := c.Sign(ctx, "signer-rsa", rsaKey.Key.KID.Version(), azkeys.SignParameters{Algorithm: to.Ptr(azkeys.SignatureAlgorithmRS256), Value: digest[:]}, nil); err != nil {
		t.Errorf("the older version still signs: %v", err)
	}

	var names []string
	for p := c.NewListKeyPropertiesPager(nil); p.More(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, kp := range page.Value {
			names = append(names, kp.KID.Name())
		}
	}
	if strings.Join(names, ",") != "signer-p-256,signer-p-384,signer-rsa" {
		t.Errorf("keys %v", names)
	}

	// Delete, then recover.
	if _, err := c.DeleteKey(ctx, "signer-p-384", nil); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetKey(ctx, "signer-p-384", "", nil)
	wantResponseError(t, err, http.StatusNotFound, "KeyNotFound", "A key with (name/id) signer-p-384 was not found")
	_, err = c.CreateKey(ctx, "signer-p-384", azkeysEC(azkeys.CurveNameP384), nil)
	wantResponseError(t, err, http.StatusConflict, "Conflict", "deleted but recoverable")
	if _, err := c.RecoverDeletedKey(ctx, "signer-p-384", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetKey(ctx, "signer-p-384", "", nil); err != nil {
		t.Errorf("recovered key: %v", err)
	}
}

// TestKeyTimeWindow: outside its nbf/exp window a key refuses sign (403)
// but still verifies, as Key Vault documents.
func TestKeyTimeWindow(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	c := f.keys(t, f.credential(t, tenantID, clientID, clientSecret))
	digest := sha256.Sum256([]byte("m"))
	k, err := c.CreateKey(ctx, "k", azkeysEC(azkeys.CurveNameP256), nil)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := c.Sign(ctx, "k", "", azkeys.SignParameters{Algorithm: to.Ptr(azkeys.SignatureAlgorithmES256), Value: digest[:]}, nil)
	if err != nil {
		t.Fatal(err)
	}
	past, future := time.Now().Add(-time.Minute), time.Now().Add(time.Hour)
	if _, err := c.UpdateKey(ctx, "k", "", azkeys.UpdateKeyParameters{KeyAttributes: &azkeys.KeyAttributes{Expires: &past}}, nil); err != nil {
		t.Fatal(err)
	}
	_, err = c.Sign(ctx, "k", "", azkeys.SignParameters{Algorithm: to.Ptr(azkeys.SignatureAlgorithmES256), Value: digest[:]}, nil)
	wantResponseError(t, err, http.StatusForbidden, "Forbidden", "expired key")
	if ok, err := c.Verify(ctx, "k", k.Key.KID.Version(), azkeys.VerifyParameters{Algorithm: to.Ptr(azkeys.SignatureAlgorithmES256), Digest: digest[:], Signature: sig.Result}, nil); err != nil || !*ok.Value {
		t.Errorf("verify with an expired key = %v, %v", ok.Value, err)
	}
	if _, err := c.UpdateKey(ctx, "k", "", azkeys.UpdateKeyParameters{KeyAttributes: &azkeys.KeyAttributes{Expires: &future, NotBefore: &future}}, nil); err != nil {
		t.Fatal(err)
	}
	_, err = c.Sign(ctx, "k", "", azkeys.SignParameters{Algorithm: to.Ptr(azkeys.SignatureAlgorithmES256), Value: digest[:]}, nil)
	wantResponseError(t, err, http.StatusForbidden, "Forbidden", "before the key's activation date")
}

// TestCreateKeyRefusals: sizes, curves and types a vault does not make.
func TestCreateKeyRefusals(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	c := f.keys(t, f.credential(t, tenantID, clientID, clientSecret))
	for _, tc := range []struct {
		p    azkeys.CreateKeyParameters
		want string
	}{
		{azkeysRSA(1024), "RSA keys are 2048, 3072 or 4096 bits"},
		{azkeysEC(azkeys.CurveNameP256K), "EC keys are on P-256, P-384 or P-521"},
		{azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeRSAHSM)}, "software keys only"},
		{azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeOct)}, "Managed HSM"},
		{azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeEC), KeyOps: []*azkeys.KeyOperation{to.Ptr(azkeys.KeyOperationEncrypt)}}, "not valid for a EC key"},
		{azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeRSA), PublicExponent: to.Ptr[int32](3)}, "public exponent 3"},
	} {
		_, err := c.CreateKey(ctx, "bad", tc.p, nil)
		wantResponseError(t, err, http.StatusBadRequest, "BadParameter", tc.want)
	}
	for _, size := range []int32{3072, 4096} {
		k, err := c.CreateKey(ctx, "rsa", azkeysRSA(size), nil)
		if err != nil {
			t.Fatalf("RSA %d: %v", size, err)
		}
		if n := publicKey(t, k.Key).(*rsa.PublicKey).N.BitLen(); n != int(size) {
			t.Errorf("RSA %d made %d bits", size, n)
		}
	}
	k, err := c.CreateKey(ctx, "ec-default", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeEC)}, nil)
	if err != nil || *k.Key.Crv != azkeys.CurveNameP256 {
		t.Errorf("EC without a curve = %v, %v", k.Key, err)
	}
}
