package build

import (
	"cmp"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/audit/jsonl"
	"github.com/gatehouse-dev/gatehouse/audit/postgres"
	"github.com/gatehouse-dev/gatehouse/audit/sqlite"
	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/internal/privatefile"
	"github.com/gatehouse-dev/gatehouse/secrets"
)

// AuditFiles are the audit section's files: as configured (relative to
// Options.Dir), else in the state directory (dev), else "".
type AuditFiles struct {
	DB, Key, SigningKey, Spool string
}

// Files resolves the audit section's files.
func (o Options) AuditFiles(f *config.File) AuditFiles {
	a := f.Audit
	or := func(v, def string) string {
		if v != "" {
			return o.path(v)
		}
		if o.StateDir == "" {
			return ""
		}
		return filepath.Join(o.StateDir, def)
	}
	return AuditFiles{DB: or(a.Path, "audit.db"), Key: or(a.KeyFile, "audit-key"), SigningKey: or(a.SigningKeyFile, "audit-signing.pem"), Spool: or(a.SpoolDir, "spool")}
}

// AuditSink opens the configured store. create allows creating the SQLite
// file (a gateway); readers (query, verify) never conjure an empty trail
// from a mistyped path.
func AuditSink(ctx context.Context, f *config.File, o Options, create bool) (audit.Sink, error) {
	files := o.AuditFiles(f)
	switch f.Audit.Sink {
	case "postgres":
		dsn, err := ReadSecret(ctx, f, o, "audit.dsn")
		if err != nil {
			return nil, err
		}
		cfg := postgres.Config{DSN: strings.TrimSpace(string(dsn.Bytes))}
		sec := o.Secrets.Field("audit.dsn")
		if sec != nil {
			cfg.CurrentDSN = func() (string, error) {
				v, err := sec.Get()
				return strings.TrimSpace(string(v.Bytes)), err
			}
		}
		sink, err := postgres.Open(ctx, cfg)
		if err != nil {
			return nil, err
		}
		if sec != nil {
			// A rotated connection string: new connections use it, and the
			// pool moves over as its connections finish their work.
			sec.OnChange(func(secrets.Value) { sink.Reconnect() })
		}
		return sink, nil
	case "jsonl":
		if create {
			return jsonl.New(os.Stdout), nil
		}
		return nil, errors.New("the jsonl audit sink writes to standard output: query and verify a captured file with --file")
	default:
		if files.DB == "" {
			return nil, errors.New("audit.path is not set")
		}
		if create {
			if err := os.MkdirAll(filepath.Dir(files.DB), 0o700); err != nil {
				return nil, err
			}
		}
		return sqlite.Open(ctx, sqlite.Config{Path: files.DB, Create: create})
	}
}

// Pseudonymizer reads the current pseudonym key (audit.key or
// audit.key_file); it never creates one. PseudonymKeys reads the previous
// ones too.
func Pseudonymizer(f *config.File, o Options) (*audit.Pseudonymizer, error) {
	return pseudonymizer(f, o, false)
}

// PseudonymKeys reads every pseudonym key, for readers of the trail: the
// current one and audit.previous_keys, each at least 32 bytes. It never
// creates one.
func PseudonymKeys(f *config.File, o Options) (*audit.PseudonymKeys, error) {
	return pseudonymKeys(context.Background(), f, o, false)
}

// pseudonymKeys reads the current key (pseudonymizer) and the previous
// ones. Without Options.Secrets, the references it needs are read once,
// with one set of store clients.
func pseudonymKeys(ctx context.Context, f *config.File, o Options, create bool) (*audit.PseudonymKeys, error) {
	var fields []string
	for _, nr := range f.SecretRefs() {
		if nr.Field == "audit.key" || strings.HasPrefix(nr.Field, "audit.previous_keys[") {
			fields = append(fields, nr.Field)
		}
	}
	if o.Secrets == nil && len(fields) > 0 {
		s, err := NewSecrets(ctx, f, o, nil)
		if err != nil {
			return nil, err
		}
		for _, field := range fields {
			if err := s.Field(field).Refresh(ctx); err != nil {
				return nil, fmt.Errorf("%s: %w", field, err)
			}
		}
		o.Secrets = s
	}
	cur, err := pseudonymizer(f, o, create)
	if err != nil {
		return nil, err
	}
	var prev []*audit.Pseudonymizer
	for i := range f.Audit.PreviousKeys {
		field := fmt.Sprintf("audit.previous_keys[%d]", i)
		sec := o.Secrets.Field(field)
		if sec == nil {
			return nil, fmt.Errorf("%s is not set", field)
		}
		v, err := sec.Get()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", field, err)
		}
		p, err := audit.NewPseudonymizer(v.Bytes)
		clear(v.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", field, err)
		}
		prev = append(prev, p)
	}
	return audit.NewPseudonymKeys(cur, prev...), nil
}

// pseudonymizer reads the pseudonym key; with create (a gateway under dev)
// it is generated on first use.
func pseudonymizer(f *config.File, o Options, create bool) (*audit.Pseudonymizer, error) {
	if !f.Audit.Key.IsZero() {
		v, err := ReadSecret(context.Background(), f, o, "audit.key")
		if err != nil {
			return nil, err
		}
		defer clear(v.Bytes)
		return audit.NewPseudonymizer(v.Bytes)
	}
	path := o.AuditFiles(f).Key
	if path == "" {
		return nil, errors.New("audit.key_file is not set")
	}
	key, _, err := privatefile.Read(path, 4096)
	if errors.Is(err, fs.ErrNotExist) && create {
		key = make([]byte, 32)
		rand.Read(key)
		err = privatefile.Write(path, key)
	}
	if err != nil {
		return nil, fmt.Errorf("audit pseudonym key: %w", err)
	}
	return audit.NewPseudonymizer(key)
}

// SigningKey reads the checkpoint signing key (PKCS#8 PEM), for readers of
// the trail (it never creates one).
func SigningKey(f *config.File, o Options) (crypto.Signer, error) {
	return signingKey(f, o, false)
}

// VerifyKeys are the public keys checkpoints may be signed with: the
// signing key's, and with a vault key those of audit.previous_signing_keys
// (each read from its vault now).
func VerifyKeys(f *config.File, o Options) ([]crypto.PublicKey, error) {
	s, err := SigningKey(f, o)
	if err != nil {
		return nil, err
	}
	prev, err := previousSigningKeys(f, o)
	if err != nil {
		return nil, err
	}
	return append([]crypto.PublicKey{s.Public()}, prev...), nil
}

// previousSigningKeys reads audit.previous_signing_keys' public keys, each
// once, as a reference of its own.
func previousSigningKeys(f *config.File, o Options) ([]crypto.PublicKey, error) {
	var keys []crypto.PublicKey
	for i, r := range f.Audit.PreviousSigningKeys {
		field := fmt.Sprintf("audit.previous_signing_keys[%d]", i)
		g := *f
		g.Audit.SigningKey, g.Creds.Issuer.SigningKey = r, config.KeyRef{}
		_, v, err := vaultKey(context.Background(), &g, Options{Dir: o.Dir, Dev: o.Dev, StateDir: o.StateDir, Logger: o.Logger}, "audit.signing_key")
		if err != nil {
			return nil, fmt.Errorf("%s: %w", field, err)
		}
		pub, err := secrets.PublicKey(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", field, err)
		}
		keys = append(keys, pub)
	}
	return keys, nil
}

// rotatingSigner signs checkpoints with the vault key's version in use:
// a refresh that finds a new version swaps it in (audit.RotatingSigner).
type rotatingSigner struct{ cur atomic.Pointer[crypto.Signer] }

func (r *rotatingSigner) Current() crypto.Signer   { return *r.cur.Load() }
func (r *rotatingSigner) Public() crypto.PublicKey { return r.Current().Public() }
func (r *rotatingSigner) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return r.Current().Sign(rand, digest, opts)
}

// vaultSigningKey is audit.signing_key: the version in use now, and the
// next ones as refreshes find them.
func vaultSigningKey(f *config.File, o Options) (crypto.Signer, error) {
	const field = "audit.signing_key"
	k, v, err := vaultKey(context.Background(), f, o, field)
	if err != nil {
		return nil, err
	}
	s, err := k.Source.Signer(v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	rs := &rotatingSigner{}
	rs.cur.Store(&s)
	k.Secret.OnChange(func(v secrets.Value) {
		s, err := k.Source.Signer(v)
		if err != nil {
			o.logger().Error("audit: the checkpoint key's new version is refused; the one in use stays", "key", k.Secret.String(), "version", v.Version, "err", err)
			return
		}
		rs.cur.Store(&s)
		o.logger().Info("audit: checkpoints are signed with the key's new version", "key", k.Secret.String(), "version", v.Version)
	})
	return rs, nil
}

// signingKey reads the checkpoint signing key; with create (a gateway
// under dev) an Ed25519 key is generated on first use. A key kept in a
// vault (audit.signing_key) signs through it.
func signingKey(f *config.File, o Options, create bool) (crypto.Signer, error) {
	if !f.Audit.SigningKey.IsZero() {
		return vaultSigningKey(f, o)
	}
	path := o.AuditFiles(f).SigningKey
	if path == "" {
		return nil, errors.New("audit.signing_key_file is not set")
	}
	b, _, err := privatefile.Read(path, 64<<10)
	if errors.Is(err, fs.ErrNotExist) && create {
		_, priv, gerr := ed25519.GenerateKey(rand.Reader)
		if gerr != nil {
			return nil, gerr
		}
		der, merr := x509.MarshalPKCS8PrivateKey(priv)
		if merr != nil {
			return nil, merr
		}
		b = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
		err = privatefile.Write(path, b)
	}
	if err != nil {
		return nil, fmt.Errorf("audit signing key: %w", err)
	}
	s, err := audit.ParseSigningKey(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// CreateAuditKeys creates the pseudonym key (32 random bytes) and the
// checkpoint signing key (Ed25519, PKCS#8 PEM) where the audit section
// names them, each readable by its owner alone, unless they exist (an
// existing key is never replaced).
func CreateAuditKeys(f *config.File, o Options) error {
	if _, err := pseudonymizer(f, o, true); err != nil {
		return err
	}
	_, err := signingKey(f, o, true)
	return err
}

// Trail is step 5 as a gateway runs it: the recorder, the store under it
// (closed after the recorder), and the pseudonym keys events name
// principals with.
type Trail struct {
	Recorder *audit.Recorder
	Sink     audit.Sink
	// Pseudonyms name principals in events (their Principal is the
	// pipeline's Pseudonym): audit.key, taken up again whenever its secret
	// rotates, and audit.previous_keys. The Recorder records which key made
	// each event's principal.
	Pseudonyms *audit.PseudonymKeys
	Signer     crypto.Signer // signs checkpoints
	// Previous are audit.previous_signing_keys' public keys: checkpoints
	// they signed are kept verifiable.
	Previous []crypto.PublicKey
}

// Close writes what the recorder still holds, then closes the store.
func (t *Trail) Close() error { return errors.Join(t.Recorder.Close(), t.Sink.Close()) }

// AuditTrail opens the trail of a gateway. Under dev (a state directory)
// its keys are generated on first use. When audit.key is a reference in
// Options.Secrets, a rotated value becomes the current pseudonym key: at
// once if it is a usable key, else it is logged and refused, and the key in
// use stays.
func AuditTrail(ctx context.Context, f *config.File, o Options) (*Trail, error) {
	create := o.StateDir != ""
	keys, err := pseudonymKeys(ctx, f, o, create)
	if err != nil {
		return nil, err
	}
	signer, err := signingKey(f, o, create)
	if err != nil {
		return nil, err
	}
	sink, err := AuditSink(ctx, f, o, true)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	rec, err := audit.NewRecorder(audit.Config{
		Sink: sink, Mode: audit.Mode(f.Audit.Mode), OnUnavailable: audit.Fallback(f.Audit.OnUnavailable),
		SpoolDir: o.AuditFiles(f).Spool, Replica: cmp.Or(f.Audit.Replica, host), Signer: signer, Logger: o.Logger,
		Pseudonyms: keys,
	})
	if err != nil {
		sink.Close()
		return nil, err
	}
	log := cmp.Or(o.Logger, slog.Default())
	log.Info("audit: pseudonym keys", "keys", keys)
	if sec := o.Secrets.Field("audit.key"); sec != nil {
		// Each call takes up the value in use now, one call at a time, so
		// whatever the order of the calls the latest value wins.
		var mu sync.Mutex
		takeUp := func() {
			mu.Lock()
			defer mu.Unlock()
			if v, err := sec.Get(); err == nil {
				takeUpPseudonymKey(keys, v, sec.String(), log)
			}
		}
		sec.OnChange(func(secrets.Value) { takeUp() })
		takeUp() // a rotation between the read above and the subscription
	}
	// Retention keeps checkpoints of earlier vault key versions verifiable;
	// one it cannot read only means no cut at what that version signed.
	prev, err := previousSigningKeys(f, o)
	if err != nil {
		log.Warn("audit: retention cannot check checkpoints of a previous signing key", "err", err)
	}
	return &Trail{Recorder: rec, Sink: sink, Pseudonyms: keys, Signer: signer, Previous: prev}, nil
}

// takeUpPseudonymKey makes v the current pseudonym key when it is a usable
// key; otherwise it logs why not and the key in use stays. Neither the key
// nor the refused value is logged: the reference, its version and key ids.
func takeUpPseudonymKey(keys *audit.PseudonymKeys, v secrets.Value, ref string, log *slog.Logger) {
	p, err := audit.NewPseudonymizer(v.Bytes)
	clear(v.Bytes)
	if err != nil {
		log.Error("audit: the rotated pseudonym key is refused; the key in use stays", "secret", ref, "version", v.Version,
			"key_id", keys.Current().KeyID(), "err", err)
		return
	}
	from := keys.Current().KeyID()
	if keys.Rotate(p) {
		log.Info("audit: pseudonym key rotated", "secret", ref, "version", v.Version, "from", from, "to", p.KeyID())
	}
}

// verifyKeys are the keys Prune checks checkpoints with: the signer's, and
// the previous versions of a vault key it has signed with.
func (t *Trail) verifyKeys() crypto.PublicKey {
	if len(t.Previous) == 0 {
		return t.Signer.Public()
	}
	return append([]crypto.PublicKey{t.Signer.Public()}, t.Previous...)
}

// Prune deletes events older than audit.retention every hour until ctx
// ends, cutting only at signed checkpoints so that verify keeps passing on
// what remains. Without a retention it returns at once.
func (t *Trail) Prune(ctx context.Context, retention time.Duration, log *slog.Logger) {
	if retention <= 0 {
		return
	}
	tick := time.NewTicker(time.Hour)
	defer tick.Stop()
	for {
		n, err := audit.Prune(ctx, t.Sink, time.Now().Add(-retention), t.verifyKeys())
		if err != nil {
			log.Error("audit: retention failed", "err", err)
		} else if n > 0 {
			log.Info("audit: retention deleted old events", "events", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// ReadSecret returns the value of the secret the field names: from
// o.Secrets when the caller keeps a set, else read once now (with
// secrets.azure.client's secret first, when there is one), without
// reading the file's other references.
func ReadSecret(ctx context.Context, f *config.File, o Options, field string) (secrets.Value, error) {
	if sec := o.Secrets.Field(field); sec != nil {
		return sec.Get()
	}
	s, err := NewSecrets(ctx, f, o, nil)
	if err != nil {
		return secrets.Value{}, err
	}
	sec := s.Field(field)
	if sec == nil {
		return secrets.Value{}, fmt.Errorf("%s is not set", field)
	}
	if err := s.loadClientSecret(ctx); err != nil {
		return secrets.Value{}, err
	}
	if err := sec.Refresh(ctx); err != nil {
		return secrets.Value{}, fmt.Errorf("%s: %w", field, err)
	}
	return sec.Get()
}
