package keyvault

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"encoding/asn1"
	"errors"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"time"
)

// sigAlg is a JWS signature algorithm over a caller-computed digest.
type sigAlg struct {
	hash  crypto.Hash
	kind  byte   // 'R' RSASSA-PKCS1-v1_5, 'P' RSASSA-PSS, 'E' ECDSA
	curve string // the one curve an ES algorithm fits
}

var sigAlgs = map[string]sigAlg{
	"RS256": {crypto.SHA256, 'R', ""}, "RS384": {crypto.SHA384, 'R', ""}, "RS512": {crypto.SHA512, 'R', ""},
	"PS256": {crypto.SHA256, 'P', ""}, "PS384": {crypto.SHA384, 'P', ""}, "PS512": {crypto.SHA512, 'P', ""},
	"ES256": {crypto.SHA256, 'E', "P-256"}, "ES384": {crypto.SHA384, 'E', "P-384"}, "ES512": {crypto.SHA512, 'E', "P-521"},
}

// signIn is the body of sign and verify: alg, the digest (value for sign,
// digest for verify) and for verify the signature (value), base64url.
type signIn struct {
	Alg    string `json:"alg"`
	Value  string `json:"value"`
	Digest string `json:"digest"`
}

// signOut is KeyOperationResult.
type signOut struct {
	KID   string `json:"kid"`
	Value string `json:"value"`
}

// decodeB64 decodes base64url with or without padding.
func decodeB64(s string) ([]byte, bool) {
	b, err := b64.DecodeString(strings.TrimRight(s, "="))
	return b, err == nil
}

// checkAlg checks alg and the digest length it implies.
func checkAlg(name string, digest []byte) (sigAlg, *kvError) {
	alg, ok := sigAlgs[name]
	if !ok {
		return alg, badParameter("The algorithm '%s' is not supported: RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384 or ES512.", clip(name))
	}
	if len(digest) != alg.hash.Size() {
		return alg, badParameter("The digest for %s must be %d bytes (%s); it is %d.", name, alg.hash.Size(), alg.hash, len(digest))
	}
	return alg, nil
}

// usable looks up a key version for a cryptographic operation: enabled,
// allowing op, of a type alg fits, and (unless the operation is exempt, as
// verify is) inside its nbf/exp window.
func (s *Server) usable(name, ver, op string, alg sigAlg, algName string, window bool) (*object, *version, *kvError) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	o := s.lookup(keyKind, name)
	if o == nil {
		return nil, nil, keyKind.errNotFound(name, ver)
	}
	v := o.find(ver)
	if v == nil {
		return nil, nil, keyKind.errNotFound(name, ver)
	}
	if !v.Enabled {
		return nil, nil, keyKind.errDisabled(op)
	}
	if !slices.Contains(v.Ops, op) {
		return nil, nil, newError(http.StatusForbidden, codeForbidden, "Operation %s is not permitted on this key: its key_ops are %s.", op, strings.Join(v.Ops, ", ")).
			withInner("KeyOperationForbidden")
	}
	if window {
		now := s.now().Unix()
		if v.NotBefore != nil && now < *v.NotBefore {
			return nil, nil, newError(http.StatusForbidden, codeForbidden, "Operation %s is not allowed before the key's activation date (nbf %s).", op, time.Unix(*v.NotBefore, 0).UTC().Format(time.RFC3339)).
				withInner("KeyNotYetValid")
		}
		if v.Expires != nil && now >= *v.Expires {
			return nil, nil, newError(http.StatusForbidden, codeForbidden, "Operation %s is not allowed on an expired key (exp %s).", op, time.Unix(*v.Expires, 0).UTC().Format(time.RFC3339)).
				withInner("KeyExpired")
		}
	}
	fits := alg.kind != 'E' && v.Kty == "RSA" || alg.kind == 'E' && v.Kty == "EC" && v.Curve == alg.curve
	if !fits {
		desc := v.Kty
		if v.Curve != "" {
			desc += " " + v.Curve
		}
		return nil, nil, badParameter("The algorithm %s does not fit this key (%s).", algName, desc)
	}
	return o, v, nil
}

func (s *Server) sign(req *request, name, ver string) (int, any, *kvError) {
	if e := s.allowed(req.caller, keyKind, "sign"); e != nil {
		return 0, nil, e
	}
	var in signIn
	if e := readBody(req, &in); e != nil {
		return 0, nil, e
	}
	digest, ok := decodeB64(in.Value)
	if !ok {
		return 0, nil, badParameter("The value (digest) is not base64url.")
	}
	alg, e := checkAlg(in.Alg, digest)
	if e != nil {
		return 0, nil, e
	}
	o, v, e := s.usable(name, ver, "sign", alg, in.Alg, true)
	if e != nil {
		return 0, nil, e
	}
	sig, err := signDigest(v.signer, alg, digest)
	if err != nil {
		s.log.Error("keyvault: sign failed", "name", o.Name, "version", v.ID, "err", err)
		return 0, nil, errInternal()
	}
	return http.StatusOK, signOut{KID: s.id(keyKind, o.Name, v.ID), Value: b64.EncodeToString(sig)}, nil
}

func (s *Server) verify(req *request, name, ver string) (int, any, *kvError) {
	if e := s.allowed(req.caller, keyKind, "verify"); e != nil {
		return 0, nil, e
	}
	var in signIn
	if e := readBody(req, &in); e != nil {
		return 0, nil, e
	}
	digest, ok := decodeB64(in.Digest)
	sig, ok2 := decodeB64(in.Value)
	if !ok || !ok2 {
		return 0, nil, badParameter("The digest and value (signature) must be base64url.")
	}
	alg, e := checkAlg(in.Alg, digest)
	if e != nil {
		return 0, nil, e
	}
	// Verify works outside the nbf/exp window, as Key Vault documents.
	_, v, e := s.usable(name, ver, "verify", alg, in.Alg, false)
	if e != nil {
		return 0, nil, e
	}
	return http.StatusOK, map[string]bool{"value": verifyDigest(v.signer.Public(), alg, digest, sig)}, nil
}

// signDigest signs with the standard library: PKCS #1 v1.5, PSS with a
// salt as long as the hash (what JWS PS* verifiers expect), or ECDSA as
// the fixed-size r || s of JWS.
func signDigest(key crypto.Signer, alg sigAlg, digest []byte) ([]byte, error) {
	switch alg.kind {
	case 'R':
		return key.Sign(rand.Reader, digest, alg.hash)
	case 'P':
		return key.Sign(rand.Reader, digest, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: alg.hash})
	}
	ec, ok := key.(*ecdsa.PrivateKey)
	if !ok {
		return nil, errors.New("not an EC key")
	}
	der, err := ecdsa.SignASN1(rand.Reader, ec, digest)
	if err != nil {
		return nil, err
	}
	var rs struct{ R, S *big.Int }
	if _, err := asn1.Unmarshal(der, &rs); err != nil {
		return nil, err
	}
	size := (ec.Curve.Params().BitSize + 7) / 8
	out := make([]byte, 2*size)
	rs.R.FillBytes(out[:size])
	rs.S.FillBytes(out[size:])
	return out, nil
}

func verifyDigest(pub crypto.PublicKey, alg sigAlg, digest, sig []byte) bool {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if alg.kind == 'R' {
			return rsa.VerifyPKCS1v15(k, alg.hash, digest, sig) == nil
		}
		return rsa.VerifyPSS(k, alg.hash, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) == nil
	case *ecdsa.PublicKey:
		size := (k.Curve.Params().BitSize + 7) / 8
		if len(sig) != 2*size {
			return false
		}
		der, err := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(sig[:size]), new(big.Int).SetBytes(sig[size:])})
		return err == nil && ecdsa.VerifyASN1(k, digest, der)
	}
	return false
}
