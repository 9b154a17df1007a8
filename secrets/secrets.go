package secrets

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"
)

// Encoding says how a stored value becomes the secret's bytes.
type Encoding string

// Encodings.
const (
	Raw    Encoding = ""       // as stored
	Base64 Encoding = "base64" // standard or URL alphabet, padded or not; surrounding white space ignored
)

// Config is the schedule of a Set.
type Config struct {
	// RefreshInterval is how often each secret is read again; 0 means
	// 5 minutes. Each refresh waits a random 0-10% more, so replicas do
	// not call the store in step.
	RefreshInterval time.Duration
	// MaxAge bounds how long the last good value serves while the store
	// cannot be reached; 0 means 24 hours.
	MaxAge time.Duration
	// FetchTimeout bounds one Fetch; 0 means 30 seconds.
	FetchTimeout time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger gets refresh failures and rotations (references and versions
	// only); nil means slog.Default().
	Logger *slog.Logger
}

// Set holds the secrets of a process, one *Secret per reference.
type Set struct {
	cfg     Config
	mu      sync.Mutex
	secrets []*Secret
	byRef   map[string]*Secret
}

// New returns an empty Set.
func New(cfg Config) *Set {
	if cfg.RefreshInterval <= 0 {
		cfg.RefreshInterval = 5 * time.Minute
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = 24 * time.Hour
	}
	if cfg.FetchTimeout <= 0 {
		cfg.FetchTimeout = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Set{cfg: cfg, byRef: map[string]*Secret{}}
}

// Add returns the Secret of src, decoded with enc. Adding a reference
// twice (same String and encoding) returns the same Secret, so two fields
// naming one secret share its value and its refreshes.
func (s *Set) Add(src Source, enc Encoding) *Secret {
	key := src.String() + "|" + string(enc)
	s.mu.Lock()
	defer s.mu.Unlock()
	if sec, ok := s.byRef[key]; ok {
		return sec
	}
	sec := &Secret{src: src, enc: enc, set: s}
	s.byRef[key] = sec
	s.secrets = append(s.secrets, sec)
	return sec
}

func (s *Set) list() []*Secret {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Secret(nil), s.secrets...)
}

// Load reads every secret that has no value yet. It returns every failure
// at once, each naming its reference: at start, a secret that cannot be
// read refuses the start.
func (s *Set) Load(ctx context.Context) error {
	var errs []error
	for _, sec := range s.list() {
		if _, err := sec.Get(); err == nil {
			continue
		}
		if err := sec.Refresh(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Refresh reads every secret again now (SIGHUP, `gatehouse secrets
// refresh`) and returns every failure; a failed secret keeps its last
// good value.
func (s *Set) Refresh(ctx context.Context) error {
	var errs []error
	for _, sec := range s.list() {
		if err := sec.Refresh(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Run refreshes every secret on the schedule until ctx ends.
func (s *Set) Run(ctx context.Context) {
	for {
		d := s.cfg.RefreshInterval + time.Duration(rand.Int64N(int64(s.cfg.RefreshInterval/10)+1))
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		// Failures are logged and counted by Refresh; the old values serve.
		_ = s.Refresh(ctx)
	}
}

// Status is what /readyz and the metrics say of a secret.
type Status struct {
	Ref     string    // the reference
	Version string    // of the value in use; "" before the first read
	Fetched time.Time // when the value in use was read
	// LastError is the last refresh's failure ("" after a success).
	LastError string
	// Failures counts failed refreshes since the start.
	Failures int
	// Usable is false when there is no value, or it is older than MaxAge.
	Usable bool
}

// Status reports every secret, in the order they were added.
func (s *Set) Status() []Status {
	now := s.cfg.Now()
	var out []Status
	for _, sec := range s.list() {
		sec.mu.Lock()
		st := Status{Ref: sec.src.String(), Version: sec.cur.Version, Fetched: sec.fetched, Failures: sec.failures}
		if sec.lastErr != nil {
			st.LastError = sec.lastErr.Error()
		}
		st.Usable = sec.cur.Bytes != nil && now.Sub(sec.fetched) <= s.cfg.MaxAge
		sec.mu.Unlock()
		out = append(out, st)
	}
	return out
}

// Ready returns nil when every secret is usable, else an error naming
// those that are not.
func (s *Set) Ready() error {
	var bad []string
	for _, st := range s.Status() {
		if !st.Usable {
			bad = append(bad, st.Ref)
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("secrets unavailable: %s", strings.Join(bad, ", "))
	}
	return nil
}

// Secret is one referenced secret: the last good value, refreshed.
type Secret struct {
	src Source
	enc Encoding
	set *Set

	mu       sync.Mutex
	cur      Value
	fetched  time.Time
	lastErr  error
	failures int
	subs     []func(Value)
}

// String names the reference.
func (sec *Secret) String() string { return sec.src.String() }

// Get returns the value in use. It fails when there is none yet or it is
// older than MaxAge (its store unreachable that long): a consumer then
// fails closed rather than use a value that may have been revoked.
func (sec *Secret) Get() (Value, error) {
	sec.mu.Lock()
	defer sec.mu.Unlock()
	if sec.cur.Bytes == nil {
		if sec.lastErr != nil {
			return Value{}, fmt.Errorf("secret %s: %w", sec.src, sec.lastErr)
		}
		return Value{}, fmt.Errorf("secret %s: not read yet", sec.src)
	}
	if age := sec.set.cfg.Now().Sub(sec.fetched); age > sec.set.cfg.MaxAge {
		return Value{}, fmt.Errorf("secret %s: its store has not answered for %s (max_age %s): %v", sec.src, age.Round(time.Second), sec.set.cfg.MaxAge, sec.lastErr)
	}
	return Value{Bytes: bytes.Clone(sec.cur.Bytes), Version: sec.cur.Version}, nil
}

// OnChange calls f (in the refreshing goroutine) with each new value
// after the first: a rotation.
func (sec *Secret) OnChange(f func(Value)) {
	sec.mu.Lock()
	defer sec.mu.Unlock()
	sec.subs = append(sec.subs, f)
}

// Refresh reads the secret now. On failure the last good value stays and
// the error (naming the reference) is returned and logged.
func (sec *Secret) Refresh(ctx context.Context) error {
	cfg := &sec.set.cfg
	fctx, cancel := context.WithTimeout(ctx, cfg.FetchTimeout)
	v, err := sec.src.Fetch(fctx)
	cancel()
	if err == nil {
		v.Bytes, err = decode(v.Bytes, sec.enc)
	}
	if err == nil && len(v.Bytes) == 0 {
		err = errEmpty
	}
	if err == nil && len(v.Bytes) > MaxBytes {
		err = fmt.Errorf("the secret is larger than %d bytes", MaxBytes)
	}
	sec.mu.Lock()
	if err != nil {
		sec.lastErr, sec.failures = err, sec.failures+1
		kept, had := sec.cur.Version, sec.cur.Bytes != nil
		sec.mu.Unlock()
		if had {
			cfg.Logger.Warn("secrets: refresh failed; the last good value stays in use", "secret", sec.src.String(), "version", kept, "error", err)
		} else {
			cfg.Logger.Warn("secrets: read failed", "secret", sec.src.String(), "error", err)
		}
		return fmt.Errorf("secret %s: %w", sec.src, err)
	}
	first := sec.cur.Bytes == nil
	changed := !first && (v.Version != sec.cur.Version || !bytes.Equal(v.Bytes, sec.cur.Bytes))
	old := sec.cur.Version
	sec.cur, sec.fetched, sec.lastErr = v, cfg.Now(), nil
	subs := append([]func(Value){}, sec.subs...)
	sec.mu.Unlock()
	if changed {
		cfg.Logger.Info("secrets: rotated", "secret", sec.src.String(), "from", old, "to", v.Version)
		for _, f := range subs {
			f(Value{Bytes: bytes.Clone(v.Bytes), Version: v.Version})
		}
	}
	return nil
}

func decode(b []byte, enc Encoding) ([]byte, error) {
	switch enc {
	case Raw:
		return b, nil
	case Base64:
		s := strings.TrimSpace(string(b))
		for _, e := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			if d, err := e.DecodeString(s); err == nil {
				return d, nil
			}
		}
		return nil, errors.New("encoding base64: the value is not base64")
	}
	return nil, fmt.Errorf("unknown encoding %q", enc)
}
