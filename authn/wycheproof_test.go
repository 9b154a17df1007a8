package authn

import (
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

// The Wycheproof vectors are copied into testdata/wycheproof with their
// licence (Apache 2.0) and README saying where they come from.
func wycheproofFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "wycheproof", name))
	if err != nil {
		t.Fatalf("Wycheproof vectors: %v", err)
	}
	return b
}

type wycheproofFileT struct {
	NumberOfTests int `json:"numberOfTests"`
	TestGroups    []struct {
		PublicKeyJwk json.RawMessage `json:"publicKeyJwk"`
		KeyJwk       json.RawMessage `json:"keyJwk"`
		PublicKeyDer string          `json:"publicKeyDer"`
		Tests        []struct {
			TcID   int    `json:"tcId"`
			Msg    string `json:"msg"`
			Sig    string `json:"sig"`
			Result string `json:"result"`
		} `json:"tests"`
	} `json:"testGroups"`
}

// TestWycheproof runs the public signature vectors through the verifier's own
// JWK parsing and signature path: every valid vector verifies, every other
// one (including "acceptable") is rejected.
func TestWycheproof(t *testing.T) {
	for _, tc := range []struct {
		file string
		alg  string
		jwk  bool // key given as a JWK; else as DER
	}{
		{"ecdsa_secp256r1_sha256_p1363_test.json", "ES256", true},
		{"ecdsa_secp256r1_sha256_test.json", "ES256", false}, // DER signatures: none may pass as ES256
		{"rsa_signature_2048_sha256_test.json", "RS256", true},
	} {
		t.Run(tc.file, func(t *testing.T) {
			var f wycheproofFileT
			if err := json.Unmarshal(wycheproofFile(t, tc.file), &f); err != nil {
				t.Fatal(err)
			}
			ran, accepted := 0, 0
			for gi, g := range f.TestGroups {
				k := wycheproofKey(t, g.PublicKeyJwk, g.KeyJwk, g.PublicKeyDer, tc.jwk)
				for _, v := range g.Tests {
					msg, err1 := hex.DecodeString(v.Msg)
					sig, err2 := hex.DecodeString(v.Sig)
					if err1 != nil || err2 != nil {
						t.Fatalf("group %d tc %d: bad hex", gi, v.TcID)
					}
					err := verifySignature(k, tc.alg, string(msg), sig)
					ran++
					want := v.Result == "valid" && tc.jwk
					if (err == nil) != want {
						t.Errorf("tcId %d (%s): verify err = %v, want accepted=%v", v.TcID, v.Result, err, want)
					}
					if err == nil {
						accepted++
					}
				}
			}
			if ran != f.NumberOfTests {
				t.Fatalf("ran %d vectors, file has %d", ran, f.NumberOfTests)
			}
			t.Logf("%d vectors, %d accepted", ran, accepted)
		})
	}
}

func wycheproofKey(t *testing.T, pubJWK, keyJWK json.RawMessage, der string, useJWK bool) *key {
	t.Helper()
	raw := pubJWK
	if raw == nil {
		raw = keyJWK
	}
	if !useJWK || raw == nil {
		b, err := hex.DecodeString(der)
		if err != nil {
			t.Fatal(err)
		}
		pub, err := x509.ParsePKIXPublicKey(b)
		if err != nil {
			t.Fatal(err)
		}
		raw, err = jose.JSONWebKey{Key: pub}.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	m["kid"] = "wycheproof"
	delete(m, "d") // public part only, in case a vector file ships private keys
	b, _ := json.Marshal(m)
	k, err := parseJWK(b)
	if err != nil {
		t.Fatalf("parseJWK(%s): %v", b, err)
	}
	return k
}
