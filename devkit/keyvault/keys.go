package keyvault

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"slices"
	"strings"
)

// KeySpec describes a key for CreateKey.
type KeySpec struct {
	Type  string   // "RSA" or "EC"
	Size  int      // RSA modulus bits: 2048 (0 means 2048), 3072 or 4096
	Curve string   // EC curve: "P-256" ("" means P-256), "P-384" or "P-521"
	Ops   []string // key_ops; nil means Key Vault's default for the type
}

// Key operations Key Vault knows, in its spelling, and the defaults it
// gives a key created without key_ops.
var (
	rsaOps = []string{"encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey"}
	ecOps  = []string{"sign", "verify"}
	curves = map[string]elliptic.Curve{"P-256": elliptic.P256(), "P-384": elliptic.P384(), "P-521": elliptic.P521()}
)

// checkSpec validates a key specification and fills in Key Vault's
// defaults.
func checkSpec(spec KeySpec, exponent *int) (KeySpec, *kvError) {
	switch spec.Type {
	case "RSA":
		if spec.Size == 0 {
			spec.Size = 2048
		}
		if spec.Size != 2048 && spec.Size != 3072 && spec.Size != 4096 {
			return spec, badParameter("The key size %d is not supported: RSA keys are 2048, 3072 or 4096 bits.", spec.Size)
		}
		if spec.Curve != "" {
			return spec, badParameter("An RSA key takes no curve.")
		}
		if exponent != nil && *exponent != 65537 {
			return spec, badParameter("The public exponent %d is not supported: this vault makes RSA keys with 65537.", *exponent)
		}
	case "EC":
		if spec.Curve == "" {
			spec.Curve = "P-256"
		}
		c := curves[spec.Curve]
		if c == nil {
			return spec, badParameter("The curve '%s' is not supported: EC keys are on P-256, P-384 or P-521.", clip(spec.Curve))
		}
		if spec.Size != 0 && spec.Size != c.Params().BitSize {
			return spec, badParameter("The key size %d does not match the curve %s.", spec.Size, spec.Curve)
		}
		spec.Size = 0
		if exponent != nil {
			return spec, badParameter("An EC key takes no public exponent.")
		}
	case "RSA-HSM", "EC-HSM":
		return spec, badParameter("Keys of type '%s' need an HSM; the gatehouse development vault makes software keys only (RSA, EC).", spec.Type)
	case "oct", "oct-HSM":
		return spec, badParameter("Symmetric keys are a Managed HSM feature; vaults make RSA and EC keys.")
	case "":
		return spec, badParameter("The key type (kty) is required: RSA or EC.")
	default:
		return spec, badParameter("The key type '%s' is not valid: RSA or EC.", clip(spec.Type))
	}
	ops, e := checkOps(spec.Type, spec.Ops)
	spec.Ops = ops
	return spec, e
}

// checkOps validates key_ops for a key type, in Key Vault's spelling
// (matched case-insensitively), without repeats; nil means the default.
func checkOps(kty string, ops []string) ([]string, *kvError) {
	valid := rsaOps
	if kty == "EC" {
		valid = ecOps
	}
	if ops == nil {
		return slices.Clone(valid), nil
	}
	out := []string{}
	for _, op := range ops {
		i := slices.IndexFunc(valid, func(v string) bool { return strings.EqualFold(v, op) })
		if i < 0 {
			return nil, badParameter("The key operation '%s' is not valid for a %s key (valid: %s).", clip(op), kty, strings.Join(valid, ", "))
		}
		if !slices.Contains(out, valid[i]) {
			out = append(out, valid[i])
		}
	}
	return out, nil
}

// generate makes a key with crypto/rand.
func generate(spec KeySpec) (crypto.Signer, []byte, error) {
	var priv crypto.Signer
	var err error
	if spec.Type == "RSA" {
		priv, err = rsa.GenerateKey(rand.Reader, spec.Size)
	} else {
		priv, err = ecdsa.GenerateKey(curves[spec.Curve], rand.Reader)
	}
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, nil, err
	}
	return priv, der, nil
}

// checkKeyMatches checks that a loaded private key is what its version
// says it is.
func checkKeyMatches(v *version, signer crypto.Signer) error {
	switch k := signer.(type) {
	case *rsa.PrivateKey:
		if v.Kty == "RSA" && k.N.BitLen() == v.Size {
			return nil
		}
	case *ecdsa.PrivateKey:
		if v.Kty == "EC" && curves[v.Curve] == k.Curve {
			return nil
		}
	}
	return errors.New("key type mismatch")
}

// jwkOut is a key version's public JSON Web Key. Private members are never
// answered.
type jwkOut struct {
	KID    string   `json:"kid"`
	Kty    string   `json:"kty"`
	KeyOps []string `json:"key_ops"`
	N      string   `json:"n,omitempty"`
	E      string   `json:"e,omitempty"`
	Crv    string   `json:"crv,omitempty"`
	X      string   `json:"x,omitempty"`
	Y      string   `json:"y,omitempty"`
}

type keyOut struct {
	Key        jwkOut            `json:"key"`
	Attributes attributesOut     `json:"attributes"`
	Tags       map[string]string `json:"tags,omitempty"`
	deletedOut
}

var b64 = base64.RawURLEncoding

func (s *Server) keyOut(o *object, v *version) keyOut {
	jwk := jwkOut{KID: s.id(keyKind, o.Name, v.ID), Kty: v.Kty, KeyOps: v.Ops}
	if jwk.KeyOps == nil {
		jwk.KeyOps = []string{}
	}
	switch pub := v.signer.Public().(type) {
	case *rsa.PublicKey:
		jwk.N = b64.EncodeToString(pub.N.Bytes())
		jwk.E = b64.EncodeToString(big.NewInt(int64(pub.E)).Bytes())
	case *ecdsa.PublicKey:
		// The uncompressed point 04 || X || Y: X and Y at the curve's full size.
		if pt, err := pub.Bytes(); err == nil {
			n := (len(pt) - 1) / 2
			jwk.Crv, jwk.X, jwk.Y = v.Curve, b64.EncodeToString(pt[1:1+n]), b64.EncodeToString(pt[1+n:])
		}
	}
	return keyOut{Key: jwk, Attributes: attributesOf(keyKind, v), Tags: v.Tags, deletedOut: s.deletedOf(keyKind, o)}
}

// createKeyIn is the body of POST /keys/{name}/create.
type createKeyIn struct {
	Kty            string            `json:"kty"`
	KeySize        *int              `json:"key_size"`
	PublicExponent *int              `json:"public_exponent"`
	Curve          string            `json:"crv"`
	KeyOps         []string          `json:"key_ops"`
	Attributes     *attributesIn     `json:"attributes"`
	Tags           map[string]string `json:"tags"`
	ReleasePolicy  json.RawMessage   `json:"release_policy"`
}

// updateKeyIn is the body of PATCH /keys/{name}/{version}.
type updateKeyIn struct {
	KeyOps        []string          `json:"key_ops"`
	Attributes    *attributesIn     `json:"attributes"`
	Tags          map[string]string `json:"tags"`
	ReleasePolicy json.RawMessage   `json:"release_policy"`
}

// keyOperations are the POST /keys/{name}/{version}/{operation} names; the
// ones other than sign and verify are refused as not implemented.
var keyOperations = []string{"sign", "verify", "encrypt", "decrypt", "wrapkey", "unwrapkey", "release", "attestation"}

func (s *Server) routeKeys(req *request, segs []string) (int, any, *kvError) {
	switch {
	case len(segs) == 0:
		if e := methods(req, http.MethodGet); e != nil {
			return 0, nil, e
		}
		return s.listObjects(req, keyKind, false)
	case len(segs) == 1 && segs[0] == "restore":
		return 0, nil, errNotImplemented("Restoring a key backup")
	case len(segs) == 1:
		if req.r.Method == http.MethodPut {
			return 0, nil, errNotImplemented("Importing a key")
		}
		if e := methods(req, http.MethodGet, http.MethodPatch, http.MethodDelete); e != nil {
			return 0, nil, e
		}
		switch req.r.Method {
		case http.MethodPatch:
			return s.updateKey(req, segs[0], "")
		case http.MethodDelete:
			return s.deleteObject(req, keyKind, segs[0])
		}
		return s.getKey(req, segs[0], "")
	case len(segs) == 2:
		switch strings.ToLower(segs[1]) {
		case "create":
			if e := methods(req, http.MethodPost); e != nil {
				return 0, nil, e
			}
			return s.postCreateKey(req, segs[0])
		case "rotate":
			if e := methods(req, http.MethodPost); e != nil {
				return 0, nil, e
			}
			return s.rotateKey(req, segs[0])
		case "versions":
			if e := methods(req, http.MethodGet); e != nil {
				return 0, nil, e
			}
			return s.listVersions(req, keyKind, segs[0])
		case "backup":
			return 0, nil, errNotImplemented("Backing up a key")
		case "rotationpolicy":
			return 0, nil, errNotImplemented("Key rotation policies")
		}
		if req.r.Method == http.MethodPost && slices.Contains(keyOperations, strings.ToLower(segs[1])) {
			return s.keyOperation(req, segs[0], "", segs[1]) // no version segment: the current version
		}
		if e := methods(req, http.MethodGet, http.MethodPatch); e != nil {
			return 0, nil, e
		}
		if req.r.Method == http.MethodPatch {
			return s.updateKey(req, segs[0], segs[1])
		}
		return s.getKey(req, segs[0], segs[1])
	case len(segs) == 3:
		return s.keyOperation(req, segs[0], segs[1], segs[2])
	}
	return 0, nil, badParameter("The request URI is not a Key Vault keys operation.")
}

func (s *Server) keyOperation(req *request, name, ver, op string) (int, any, *kvError) {
	switch strings.ToLower(op) {
	case "sign":
		if e := methods(req, http.MethodPost); e != nil {
			return 0, nil, e
		}
		return s.sign(req, name, ver)
	case "verify":
		if e := methods(req, http.MethodPost); e != nil {
			return 0, nil, e
		}
		return s.verify(req, name, ver)
	case "encrypt", "decrypt", "wrapkey", "unwrapkey":
		return 0, nil, errNotImplemented("The " + op + " operation")
	case "release", "attestation":
		return 0, nil, errNotImplemented("Key " + op)
	}
	return 0, nil, badParameter("The request URI is not a Key Vault keys operation.")
}

func (s *Server) postCreateKey(req *request, name string) (int, any, *kvError) {
	if e := s.allowed(req.caller, keyKind, "create"); e != nil {
		return 0, nil, e
	}
	var in createKeyIn
	if e := readBody(req, &in); e != nil {
		return 0, nil, e
	}
	if len(in.ReleasePolicy) > 0 && string(in.ReleasePolicy) != "null" {
		return 0, nil, badParameter("Release policies are not served by the gatehouse development vault.")
	}
	size := 0
	if in.KeySize != nil {
		size = *in.KeySize
		if size == 0 {
			size = -1 // an explicit 0 is not a size
		}
	}
	spec, e := checkSpec(KeySpec{Type: in.Kty, Size: size, Curve: in.Curve, Ops: in.KeyOps}, in.PublicExponent)
	if e != nil {
		return 0, nil, e
	}
	o, v, e := s.createKey(name, spec, in.Attributes, in.Tags, req.caller.oid)
	if e != nil {
		return 0, nil, e
	}
	return http.StatusOK, s.keyOut(o, v), nil
}

// createKey generates a key and adds it as a new version of the key name,
// creating the key if need be. spec has been checked.
func (s *Server) createKey(name string, spec KeySpec, attrs *attributesIn, tags map[string]string, who string) (*object, *version, *kvError) {
	if !validName(name) {
		return nil, nil, errInvalidName(name)
	}
	if e := attrs.check(); e != nil {
		return nil, nil, e
	}
	if e := checkTags(tags, maxKeyTagLen); e != nil {
		return nil, nil, e
	}
	id, err := newVersionID()
	if err != nil {
		return nil, nil, errInternal()
	}
	// Generating an RSA 4096 key takes a while: not under the lock.
	priv, der, err := generate(spec)
	if err != nil {
		s.log.Error("keyvault: cannot generate a key", "err", err)
		return nil, nil, errInternal()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	o := s.objects(keyKind)[strings.ToLower(name)]
	if o != nil && o.Deleted != nil {
		if !o.purged(now) {
			return nil, nil, keyKind.errDeletedConflict(name)
		}
		o = nil
	}
	v := &version{ID: id, Enabled: true, Created: now.Unix(), Updated: now.Unix(), Tags: tags,
		Kty: spec.Type, Size: spec.Size, Curve: spec.Curve, Ops: spec.Ops, PKCS8: der, signer: priv}
	if spec.Type == "EC" {
		v.Size = 0
	}
	attrs.apply(v)
	if o == nil {
		o = &object{Name: name, Versions: []*version{v}}
	} else {
		o = o.clone()
		o.Versions = append(o.Versions, v)
	}
	if err := s.commit(keyKind, name, o); err != nil {
		return nil, nil, errInternal()
	}
	s.log.Info("keyvault: key created", "name", o.Name, "version", v.ID, "kty", v.Kty, "size", v.Size, "crv", v.Curve, "caller", who)
	return o, v, nil
}

// rotateKey makes a new version like the current one: same type, size or
// curve, operations and tags, enabled, without nbf or exp.
func (s *Server) rotateKey(req *request, name string) (int, any, *kvError) {
	if e := s.allowed(req.caller, keyKind, "rotate"); e != nil {
		return 0, nil, e
	}
	s.mu.RLock()
	o := s.lookup(keyKind, name)
	var cur *version
	if o != nil {
		cur = o.current()
	}
	s.mu.RUnlock()
	if cur == nil {
		return 0, nil, keyKind.errNotFound(name, "")
	}
	spec := KeySpec{Type: cur.Kty, Size: cur.Size, Curve: cur.Curve, Ops: cur.Ops}
	no, v, e := s.createKey(o.Name, spec, nil, cur.Tags, req.caller.oid)
	if e != nil {
		return 0, nil, e
	}
	return http.StatusOK, s.keyOut(no, v), nil
}

func (s *Server) getKey(req *request, name, ver string) (int, any, *kvError) {
	if e := s.allowed(req.caller, keyKind, "get"); e != nil {
		return 0, nil, e
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	o := s.lookup(keyKind, name)
	if o == nil {
		return 0, nil, keyKind.errNotFound(name, ver)
	}
	v := o.find(ver)
	if v == nil {
		return 0, nil, keyKind.errNotFound(name, ver)
	}
	// The public key and attributes are readable when disabled: enabled
	// gates cryptographic operations.
	return http.StatusOK, s.keyOut(o, v), nil
}

func (s *Server) updateKey(req *request, name, ver string) (int, any, *kvError) {
	if e := s.allowed(req.caller, keyKind, "update"); e != nil {
		return 0, nil, e
	}
	var in updateKeyIn
	if e := readBody(req, &in); e != nil {
		return 0, nil, e
	}
	if len(in.ReleasePolicy) > 0 && string(in.ReleasePolicy) != "null" {
		return 0, nil, badParameter("Release policies are not served by the gatehouse development vault.")
	}
	if e := in.Attributes.check(); e != nil {
		return 0, nil, e
	}
	if e := checkTags(in.Tags, maxKeyTagLen); e != nil {
		return 0, nil, e
	}
	o, v, e := s.updateVersion(keyKind, name, ver, req.caller.oid, func(v *version) *kvError {
		if in.KeyOps != nil {
			ops, e := checkOps(v.Kty, in.KeyOps)
			if e != nil {
				return e
			}
			v.Ops = ops
		}
		if in.Tags != nil {
			v.Tags = in.Tags
		}
		in.Attributes.apply(v)
		return nil
	})
	if e != nil {
		return 0, nil, e
	}
	return http.StatusOK, s.keyOut(o, v), nil
}

// HasKey reports whether a live (not deleted) key named name exists.
func (s *Server) HasKey(name string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.lookup(keyKind, name) != nil
}

// CreateKey generates a key as a new version of the key name (created if
// need be, enabled, no tags), without the wire: for seeding a development
// vault. It returns the version's key identifier (kid).
func (s *Server) CreateKey(name string, spec KeySpec) (kid string, err error) {
	spec, e := checkSpec(spec, nil)
	if e == nil {
		var o *object
		var v *version
		if o, v, e = s.createKey(name, spec, nil, nil, "seed"); e == nil {
			return s.id(keyKind, o.Name, v.ID), nil
		}
	}
	return "", fmt.Errorf("keyvault: create key %q: %s", name, e.message)
}
