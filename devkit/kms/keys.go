package kms

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"hash"
)

// keySpec is what a key spec means here: how its key is made and which
// signing algorithms it offers (the KMS key spec table).
type keySpec struct {
	generate   func() (crypto.Signer, error)
	algorithms []string
}

var (
	rsaAlgorithms = []string{"RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512",
		"RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384", "RSASSA_PKCS1_V1_5_SHA_512"}
	keySpecs = map[string]keySpec{
		"RSA_2048":      {rsaKey(2048), rsaAlgorithms},
		"RSA_3072":      {rsaKey(3072), rsaAlgorithms},
		"RSA_4096":      {rsaKey(4096), rsaAlgorithms},
		"ECC_NIST_P256": {ecKey(elliptic.P256()), []string{"ECDSA_SHA_256"}},
		"ECC_NIST_P384": {ecKey(elliptic.P384()), []string{"ECDSA_SHA_384"}},
		"ECC_NIST_P521": {ecKey(elliptic.P521()), []string{"ECDSA_SHA_512"}},
	}
)

func rsaKey(bits int) func() (crypto.Signer, error) {
	return func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, bits) }
}

func ecKey(c elliptic.Curve) func() (crypto.Signer, error) {
	return func() (crypto.Signer, error) { return ecdsa.GenerateKey(c, rand.Reader) }
}

// algorithm is a signing algorithm: its hash, and PSS or not.
type algorithm struct {
	hash crypto.Hash
	pss  bool
}

var algorithms = map[string]algorithm{
	"RSASSA_PSS_SHA_256":        {crypto.SHA256, true},
	"RSASSA_PSS_SHA_384":        {crypto.SHA384, true},
	"RSASSA_PSS_SHA_512":        {crypto.SHA512, true},
	"RSASSA_PKCS1_V1_5_SHA_256": {crypto.SHA256, false},
	"RSASSA_PKCS1_V1_5_SHA_384": {crypto.SHA384, false},
	"RSASSA_PKCS1_V1_5_SHA_512": {crypto.SHA512, false},
	"ECDSA_SHA_256":             {crypto.SHA256, false},
	"ECDSA_SHA_384":             {crypto.SHA384, false},
	"ECDSA_SHA_512":             {crypto.SHA512, false},
}

// digest is the message's digest for alg: hashed for RAW, as given for
// DIGEST (which must have the hash's length).
func digest(alg algorithm, message []byte, raw bool) ([]byte, bool) {
	if !raw {
		return message, len(message) == alg.hash.Size()
	}
	var h hash.Hash = alg.hash.New()
	h.Write(message)
	return h.Sum(nil), true
}

// sign signs the digest as KMS does: PKCS #1 v1.5, PSS with a salt as long
// as the digest, or ECDSA as a DER-encoded (ASN.1) signature.
func sign(key crypto.Signer, alg algorithm, d []byte) ([]byte, error) {
	var opts crypto.SignerOpts = alg.hash
	if alg.pss {
		opts = &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: alg.hash}
	}
	return key.Sign(rand.Reader, d, opts)
}

// verify checks a signature made by sign.
func verify(pub crypto.PublicKey, alg algorithm, d, sig []byte) bool {
	switch pub := pub.(type) {
	case *rsa.PublicKey:
		if alg.pss {
			return rsa.VerifyPSS(pub, alg.hash, d, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: alg.hash}) == nil
		}
		return rsa.VerifyPKCS1v15(pub, alg.hash, d, sig) == nil
	case *ecdsa.PublicKey:
		return ecdsa.VerifyASN1(pub, d, sig)
	}
	return false
}

// parseMaterial reads a key's private key from its PKCS #8 form.
func parseMaterial(der []byte) (crypto.Signer, error) {
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, err
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, errors.New("not a signing key")
	}
	return s, nil
}

// newMaterial generates a key of spec and returns it with its PKCS #8 form.
func newMaterial(spec string) (crypto.Signer, []byte, error) {
	ks, ok := keySpecs[spec]
	if !ok {
		return nil, nil, fmt.Errorf("key spec %s is not supported", spec)
	}
	k, err := ks.generate()
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, nil, err
	}
	return k, der, nil
}
