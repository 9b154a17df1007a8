package keyvault

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/privatefile"
)

const (
	// recoverableDays is how long Key Vault keeps a deleted object (its
	// default soft-delete retention).
	recoverableDays = 90
	recoveryLevel   = "Recoverable+Purgeable"
	// maxStateBytes bounds the state file New reads.
	maxStateBytes = 256 << 20
	stateFormat   = 1
)

// state is everything the vault holds: the state file's JSON.
type state struct {
	Format  int                `json:"format"`
	Secrets map[string]*object `json:"secrets"` // by lower-case name
	Keys    map[string]*object `json:"keys"`
}

// object is a secret or a key with its versions. Objects and versions are
// copied on write: a request that read one under the read lock may keep
// using it after the lock is released.
type object struct {
	Name     string     `json:"name"`     // as first created
	Versions []*version `json:"versions"` // oldest first; the last is the current version
	Deleted  *deletion  `json:"deleted,omitempty"`
}

type deletion struct {
	Date           int64 `json:"date"`
	ScheduledPurge int64 `json:"scheduled_purge"`
}

// version is one version of a secret or a key.
type version struct {
	ID        string            `json:"id"` // 32 lower-case hex digits
	Enabled   bool              `json:"enabled"`
	NotBefore *int64            `json:"nbf,omitempty"`
	Expires   *int64            `json:"exp,omitempty"`
	Created   int64             `json:"created"`
	Updated   int64             `json:"updated"`
	Tags      map[string]string `json:"tags,omitempty"`

	// Secrets.
	Value       string `json:"value,omitempty"`
	ContentType string `json:"content_type,omitempty"`

	// Keys: the private key in PKCS#8, parsed into signer at load.
	Kty        string        `json:"kty,omitempty"`
	Size       int           `json:"size,omitempty"`
	Curve      string        `json:"crv,omitempty"`
	Ops        []string      `json:"key_ops,omitempty"`
	Exportable bool          `json:"exportable,omitempty"`
	PKCS8      []byte        `json:"pkcs8,omitempty"`
	signer     crypto.Signer // nil for secrets
}

// clone copies the version; maps and slices are replaced, never changed in
// place, so sharing them is safe.
func (v *version) clone() *version { c := *v; return &c }

func (o *object) clone() *object {
	c := *o
	c.Versions = slices.Clone(o.Versions)
	return &c
}

func (o *object) current() *version { return o.Versions[len(o.Versions)-1] }

// find returns the version with id (case-insensitive), or the current one
// for "".
func (o *object) find(id string) *version {
	if id == "" {
		return o.current()
	}
	id = strings.ToLower(id)
	for _, v := range o.Versions {
		if v.ID == id {
			return v
		}
	}
	return nil
}

// purged reports whether a deleted object has passed its scheduled purge
// date, after which it is gone, as if purged.
func (o *object) purged(now time.Time) bool {
	return o.Deleted != nil && now.Unix() >= o.Deleted.ScheduledPurge
}

var namePattern = regexp.MustCompile(`^[0-9A-Za-z-]{1,127}$`)

func validName(name string) bool { return namePattern.MatchString(name) }

// newVersionID returns 32 random hex digits, the shape of Key Vault's
// version ids.
func newVersionID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

func (s *Server) objects(k kind) map[string]*object {
	if k == keyKind {
		return s.st.Keys
	}
	return s.st.Secrets
}

// lookup returns the live object named name (case-insensitive), or nil.
// Call with s.mu held.
func (s *Server) lookup(k kind, name string) *object {
	o := s.objects(k)[strings.ToLower(name)]
	if o == nil || o.Deleted != nil {
		return nil
	}
	return o
}

// lookupDeleted returns the deleted object named name, or nil.
func (s *Server) lookupDeleted(k kind, name string, now time.Time) *object {
	o := s.objects(k)[strings.ToLower(name)]
	if o == nil || o.Deleted == nil || o.purged(now) {
		return nil
	}
	return o
}

// commit replaces (nil: removes) the object named name and saves the
// state; if saving fails the old object is put back. Call with s.mu held
// for writing.
func (s *Server) commit(k kind, name string, o *object) error {
	m := s.objects(k)
	key := strings.ToLower(name)
	old, had := m[key]
	if o == nil {
		delete(m, key)
	} else {
		m[key] = o
	}
	if err := s.save(); err != nil {
		if had {
			m[key] = old
		} else {
			delete(m, key)
		}
		s.log.Error("keyvault: cannot write the state file; the change is undone", "err", err)
		return err
	}
	return nil
}

// save writes the state file, if there is one.
func (s *Server) save() error {
	if s.stateFile == "" {
		return nil
	}
	b, err := json.Marshal(s.st)
	if err != nil {
		return err
	}
	return privatefile.Write(s.stateFile, b)
}

// loadState reads the state file, or starts empty when there is none (or
// no file is configured). Deleted objects past their purge date are
// dropped; private keys are parsed.
func loadState(path string, now time.Time) (*state, error) {
	st := &state{Format: stateFormat, Secrets: map[string]*object{}, Keys: map[string]*object{}}
	if path == "" {
		return st, nil
	}
	b, _, err := privatefile.Read(path, maxStateBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, st); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if st.Format != stateFormat {
		return nil, fmt.Errorf("%s: format %d, want %d", path, st.Format, stateFormat)
	}
	if st.Secrets == nil {
		st.Secrets = map[string]*object{}
	}
	if st.Keys == nil {
		st.Keys = map[string]*object{}
	}
	for _, m := range []map[string]*object{st.Secrets, st.Keys} {
		for key, o := range maps.Clone(m) {
			if o == nil || len(o.Versions) == 0 || strings.ToLower(o.Name) != key || !validName(o.Name) {
				return nil, fmt.Errorf("%s: object %q is malformed", path, key)
			}
			if o.purged(now) {
				delete(m, key)
			}
		}
	}
	for key, o := range st.Keys {
		for _, v := range o.Versions {
			if v == nil {
				return nil, fmt.Errorf("%s: key %q has an empty version", path, key)
			}
			priv, err := x509.ParsePKCS8PrivateKey(v.PKCS8)
			if err != nil {
				return nil, fmt.Errorf("%s: key %s/%s: %w", path, key, v.ID, err)
			}
			signer, ok := priv.(crypto.Signer)
			if !ok || checkKeyMatches(v, signer) != nil {
				return nil, fmt.Errorf("%s: key %s/%s does not match its type", path, key, v.ID)
			}
			v.signer = signer
		}
	}
	for key, o := range st.Secrets {
		if slices.Contains(o.Versions, nil) {
			return nil, fmt.Errorf("%s: secret %q has an empty version", path, key)
		}
	}
	return st, nil
}
