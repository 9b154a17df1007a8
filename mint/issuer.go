package mint

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Claim names AWS reads from a web-identity token (spec §7, §8).
const (
	ClaimTags           = "https://aws.amazon.com/tags"
	ClaimSourceIdentity = "https://aws.amazon.com/source_identity"
)

// Paths of the issuer's documents, under the issuer URL's path.
const (
	DiscoveryPath = "/.well-known/openid-configuration"
	JWKSPath      = "/keys.json"
)

const (
	defaultTokenLifetime = 5 * time.Minute
	maxTokenLifetime     = 5 * time.Minute
	// keyCheckInterval is how often a running Issuer stats its key file.
	keyCheckInterval = time.Second
)

// Config configures an Issuer.
type Config struct {
	// URL is the issuer: https, a host, an optional path, no query,
	// fragment or trailing slash. It is the token's `iss` and, without
	// "https://", the IAM OIDC provider's name and condition-key prefix.
	// Real IAM refuses URLs with a port; the local STS accepts them.
	URL string
	// KeyDir holds the signing keys (KeyFileName, created on first use,
	// 0600; the directory 0700). "" keeps keys in memory only, for tests.
	KeyDir string
	// TokenLifetime is the lifetime of minted web-identity tokens; 0 means
	// 5 min, the maximum. (Assertions live AssertionLifetime at most.)
	TokenLifetime time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Rand is the randomness for keys and token ids; nil means crypto/rand.
	Rand io.Reader
	// Logger receives key reload problems; nil means slog.Default().
	Logger *slog.Logger
	// Vault, when set, keeps the signing key in a vault (AWS KMS, Azure Key
	// Vault) instead of a key file; KeyDir then holds only the record of
	// the versions published (VaultStateFileName).
	Vault *Vault
}

// Issuer is gatehouse as an OpenID Connect issuer: it serves a discovery
// document and JWKS that an IAM OIDC provider (or the local STS) and HTTP
// upstreams trust, mints the short web-identity tokens broker mode sends to
// AssumeRoleWithWebIdentity (Mint), and signs the identity assertions HTTP
// upstreams receive (Assertion). Its tokens are never handed to callers.
type Issuer struct {
	url           string
	discoveryPath string // full request paths
	jwksPath      string
	keyPath       string // "" in memory
	lifetime      time.Duration
	now           func() time.Time
	rand          io.Reader
	log           *slog.Logger

	keys    atomic.Pointer[issuerKeys]
	checked atomic.Int64 // unix ns of the last key file stat
	mu      sync.Mutex   // serialises reloads and rotations
	modTime time.Time
	size    int64

	vault    *vaultState  // nil: keys in a key file or in memory
	vaultDue atomic.Int64 // unix ns when a next vault version signs; 0: none
}

// NewIssuer checks cfg and loads the signing keys from KeyDir, creating a
// current and a next key on first use.
func NewIssuer(cfg Config) (*Issuer, error) {
	u, err := url.Parse(cfg.URL)
	switch {
	case err != nil:
		return nil, fmt.Errorf("mint: issuer URL: %w", err)
	case u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.Opaque != "":
		return nil, fmt.Errorf("mint: issuer URL %q: want https://host[/path] with no user, query or fragment", cfg.URL)
	case strings.HasSuffix(cfg.URL, "/"):
		return nil, fmt.Errorf("mint: issuer URL %q: no trailing slash (it would become part of every IAM condition key)", cfg.URL)
	case u.RawPath != "" || strings.Contains(u.Path, "//") || strings.Contains(u.Path, "/./") || strings.Contains(u.Path, "/../") || strings.HasSuffix(u.Path, "/.."):
		return nil, fmt.Errorf("mint: issuer URL %q: path must be plain", cfg.URL)
	case cfg.TokenLifetime < 0 || cfg.TokenLifetime > maxTokenLifetime:
		return nil, fmt.Errorf("mint: issuer token lifetime %v: want at most %v", cfg.TokenLifetime, maxTokenLifetime)
	}
	i := &Issuer{
		url:           cfg.URL,
		discoveryPath: u.Path + DiscoveryPath,
		jwksPath:      u.Path + JWKSPath,
		lifetime:      cfg.TokenLifetime,
		now:           cfg.Now,
		rand:          cfg.Rand,
		log:           cfg.Logger,
	}
	if i.lifetime == 0 {
		i.lifetime = defaultTokenLifetime
	}
	if i.now == nil {
		i.now = time.Now
	}
	if i.rand == nil {
		i.rand = rand.Reader
	}
	if i.log == nil {
		i.log = slog.Default()
	}
	if cfg.Vault != nil {
		if err := i.openVault(cfg.Vault, cfg.KeyDir); err != nil {
			return nil, err
		}
		return i, nil
	}
	if cfg.KeyDir == "" {
		f, err := initialIssuerKeys(i.now(), i.rand)
		if err != nil {
			return nil, err
		}
		ks, err := newIssuerKeys(f)
		if err != nil {
			return nil, err
		}
		i.installKeys(ks)
		return i, nil
	}
	i.keyPath = filepath.Join(cfg.KeyDir, KeyFileName)
	if err := i.loadOrCreate(cfg.KeyDir); err != nil {
		return nil, err
	}
	return i, nil
}

func (i *Issuer) loadOrCreate(dir string) error {
	f, fi, err := readIssuerKeyFile(i.keyPath)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("mint: issuer key directory: %w", err)
		}
		if f, err = initialIssuerKeys(i.now(), i.rand); err != nil {
			return err
		}
		if err := writeIssuerKeyFile(i.keyPath, f); err != nil {
			return err
		}
		f, fi, err = readIssuerKeyFile(i.keyPath)
	}
	if err != nil {
		return err
	}
	return i.install(f, fi)
}

func (i *Issuer) install(f *issuerKeyFile, fi os.FileInfo) error {
	ks, err := newIssuerKeys(f)
	if err != nil {
		return err
	}
	i.installKeys(ks)
	if fi != nil {
		i.modTime, i.size = fi.ModTime(), fi.Size()
	}
	return nil
}

// snapshot returns the current keys, first re-reading the key file if it
// changed (checked at most once a second), so RotateKeys takes effect in a
// running gateway. A key file that became unreadable keeps the old keys.
func (i *Issuer) snapshot() *issuerKeys {
	if i.vault != nil {
		return i.vaultSnapshot()
	}
	if i.keyPath == "" {
		return i.keys.Load()
	}
	now := time.Now().UnixNano()
	last := i.checked.Load()
	if now-last < int64(keyCheckInterval) || !i.checked.CompareAndSwap(last, now) {
		return i.keys.Load()
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	fi, err := os.Stat(i.keyPath)
	if err != nil {
		i.log.Error("mint: issuer key file unreadable; keeping the loaded keys", "path", i.keyPath, "err", err)
		return i.keys.Load()
	}
	if fi.ModTime().Equal(i.modTime) && fi.Size() == i.size {
		return i.keys.Load()
	}
	f, fi, err := readIssuerKeyFile(i.keyPath)
	if err == nil {
		err = i.install(f, fi)
	}
	if err != nil {
		i.log.Error("mint: issuer key file invalid; keeping the loaded keys", "path", i.keyPath, "err", err)
	} else {
		i.log.Info("mint: issuer keys reloaded", "path", i.keyPath, "kid", i.keys.Load().current.kid)
	}
	return i.keys.Load()
}

// Rotate rotates the signing keys now, as RotateKeys does for a key
// directory; with no KeyDir the keys rotate in memory.
func (i *Issuer) Rotate() error {
	if i.vault != nil {
		return errors.New("mint: the issuer's key is kept in a vault: rotate it there (point the KMS alias at a new key, or add a Key Vault key version)")
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	now := i.now()
	if i.keyPath == "" {
		ks := i.keys.Load()
		f, err := rotateIssuerKeys(&issuerKeyFile{Keys: ks.keys}, now, i.rand)
		if err != nil {
			return err
		}
		return i.install(f, nil)
	}
	if err := RotateKeys(filepath.Dir(i.keyPath), now); err != nil {
		return err
	}
	f, fi, err := readIssuerKeyFile(i.keyPath)
	if err != nil {
		return err
	}
	return i.install(f, fi)
}

// installKeys makes ks the keys in use, with the discovery document that
// names their algorithms.
func (i *Issuer) installKeys(ks *issuerKeys) {
	var algs []string
	for _, k := range ks.keys {
		if !slices.Contains(algs, k.alg) {
			algs = append(algs, k.alg)
		}
	}
	slices.Sort(algs)
	ks.discovery, _ = json.Marshal(map[string]any{
		"issuer":                                i.url,
		"jwks_uri":                              i.url + JWKSPath,
		"response_types_supported":              []string{"id_token"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": algs,
		"claims_supported":                      []string{"iss", "sub", "aud", "iat", "nbf", "exp", "jti", ClaimTags, ClaimSourceIdentity},
	})
	i.keys.Store(ks)
}

// URL returns the issuer URL, the `iss` of its tokens.
func (i *Issuer) URL() string { return i.url }

// Handler serves GET (and HEAD) of the discovery document at
// {issuer path}/.well-known/openid-configuration and the JWKS at
// {issuer path}/keys.json; request paths are matched in full, so mount it
// at the issuer URL's path (or at "/" when the issuer URL has none).
func (i *Issuer) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body []byte
		switch r.URL.Path {
		case i.discoveryPath:
			body = i.snapshot().discovery
		case i.jwksPath:
			var err error
			if body, err = i.snapshot().jwks(i.now()); err != nil {
				http.Error(w, "keys unavailable", http.StatusInternalServerError)
				return
			}
		default:
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "public, max-age=300")
		h.Set("X-Content-Type-Options", "nosniff")
		if r.Method == http.MethodGet {
			w.Write(body)
		}
	})
}

// Export writes the discovery document and the JWKS as static files under
// dir — dir/.well-known/openid-configuration and dir/keys.json — for
// hosting at the issuer URL (an S3 bucket or any HTTPS static host), the
// way EKS publishes its service-account issuer. The files hold public keys
// only. Serve both as application/json.
func (i *Issuer) Export(dir string) error {
	ks := i.snapshot()
	jwks, err := ks.jwks(i.now())
	if err != nil {
		return err
	}
	wk := filepath.Join(dir, filepath.FromSlash(strings.TrimPrefix(filepath.Dir(DiscoveryPath), "/")))
	if err := os.MkdirAll(wk, 0o755); err != nil {
		return fmt.Errorf("mint: export: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(DiscoveryPath[1:])), append(ks.discovery, '\n'), 0o644); err != nil {
		return fmt.Errorf("mint: export: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, JWKSPath[1:]), append(jwks, '\n'), 0o644); err != nil {
		return fmt.Errorf("mint: export: %w", err)
	}
	return nil
}

// tokenClaims is the payload of a minted token, in a fixed order.
type tokenClaims struct {
	Issuer         string   `json:"iss"`
	Subject        string   `json:"sub"`
	Audience       string   `json:"aud"`
	IssuedAt       int64    `json:"iat"`
	NotBefore      int64    `json:"nbf"`
	Expiry         int64    `json:"exp"`
	ID             string   `json:"jti"`
	Tags           *awsTags `json:"https://aws.amazon.com/tags,omitempty"`
	SourceIdentity string   `json:"https://aws.amazon.com/source_identity,omitempty"`
}

// awsTags is the https://aws.amazon.com/tags claim (spec §7): each tag an
// array of exactly one string.
type awsTags struct {
	PrincipalTags     map[string][]string `json:"principal_tags"`
	TransitiveTagKeys []string            `json:"transitive_tag_keys,omitempty"`
}

// WebIdentity is what a web-identity token says; the caller decides all of
// it (creds: the role's subject, the pseudonym, the role's session tags).
type WebIdentity struct {
	// Audience is the token's aud: "sts.amazonaws.com" for AWS STS.
	// Required.
	Audience string
	// Subject is the token's sub, which a role's trust policy matches.
	// Required.
	Subject string
	// SourceIdentity is the https://aws.amazon.com/source_identity claim;
	// "" leaves the claim out.
	SourceIdentity string
	// Tags are the session tags in https://aws.amazon.com/tags: each a
	// principal tag and, in this order, a transitive tag key. None leaves
	// the claim out.
	Tags []Tag
}

// Tag is one session tag.
type Tag struct{ Key, Value string }

// Mint returns the web-identity token for id: RS256 or ES256 with the current key's
// kid; iss the issuer URL; aud id.Audience; sub id.Subject; iat and nbf
// now, exp now + the token lifetime (at most 5 min); a random jti; the tags
// (all of them transitive) in https://aws.amazon.com/tags; and
// id.SourceIdentity as https://aws.amazon.com/source_identity. It adds
// nothing else, so it holds no name, UPN or email unless id does.
func (i *Issuer) Mint(id WebIdentity, now time.Time) (string, error) {
	switch {
	case id.Audience == "":
		return "", errors.New("mint: web identity: no audience")
	case id.Subject == "":
		return "", errors.New("mint: web identity: no subject")
	}
	var jti [16]byte
	if _, err := io.ReadFull(i.rand, jti[:]); err != nil {
		return "", fmt.Errorf("mint: token id: %w", err)
	}
	c := tokenClaims{
		Issuer:         i.url,
		Subject:        id.Subject,
		Audience:       id.Audience,
		IssuedAt:       now.Unix(),
		NotBefore:      now.Unix(),
		Expiry:         now.Add(i.lifetime).Unix(),
		ID:             base64.RawURLEncoding.EncodeToString(jti[:]),
		SourceIdentity: id.SourceIdentity,
	}
	if len(id.Tags) > 0 {
		c.Tags = &awsTags{PrincipalTags: make(map[string][]string, len(id.Tags))}
		for _, t := range id.Tags {
			c.Tags.PrincipalTags[t.Key] = []string{t.Value}
			c.Tags.TransitiveTagKeys = append(c.Tags.TransitiveTagKeys, t.Key)
		}
	}
	return signJWT(i.snapshot().current, c)
}
