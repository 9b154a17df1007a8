package authn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// A snapshot is an issuer's signing keys as fetched at one moment, written
// to a file at build time (`gatehouse jwks snapshot ISSUER`) and embedded in
// a program so that it can verify tokens on start without waiting for the
// network, as a Lambda function does on a cold start:
//
//	{
//	  "issuer": "https://login.microsoftonline.com/<tenant>/v2.0",
//	  "jwks_uri": "https://login.microsoftonline.com/<tenant>/discovery/v2.0/keys",
//	  "fetched_at": "2026-11-25T12:00:00Z",
//	  "keys": [ {"kty": "RSA", "kid": "…", "n": "…", "e": "AQAB", …} ]
//	}
//
// IssuerConfig.Snapshot seeds an issuer's key set with it as if the keys had
// been fetched at fetched_at. Everything else stays as it is for fetched
// keys, so a snapshot never widens what is accepted:
//
//   - every key passes the checks fetched keys pass (parseJWK: public
//     signature keys only, RSA of at least 2048 bits, known curves; a
//     duplicate kid refuses the whole snapshot);
//   - a snapshot whose issuer is not exactly the configured Issuer (the
//     template itself for a multi-tenant Entra issuer) is refused, and so is
//     one whose fetched_at lies in the future;
//   - MaxKeyAge counts from fetched_at: a snapshot serves at most MaxKeyAge
//     after it was taken without a successful refresh. Past that, the
//     verifier fetches the keys before answering and, if the issuer cannot
//     be reached, answers Unavailable (fail closed, never open). An old
//     snapshot is accepted at start (a deployed program outlives its
//     snapshot) but then only saves nothing;
//   - the first verification that uses a seeded key set starts a refresh in
//     the background, so a key the issuer has withdrawn since the snapshot
//     stops verifying as soon as that refresh succeeds; an unknown kid
//     triggers the usual rate-limited refresh.
//
// Raising MaxKeyAge to let a snapshot serve longer also lets cached keys
// serve longer through an outage of the issuer: it is the same bound.

// maxSnapshotBytes bounds a snapshot, as maxDocumentBytes bounds a JWKS.
const maxSnapshotBytes = maxDocumentBytes + 4096

// snapshotFile is the JSON form of a snapshot.
type snapshotFile struct {
	Issuer    string           `json:"issuer"`
	JWKSURI   string           `json:"jwks_uri"`
	FetchedAt time.Time        `json:"fetched_at"`
	Keys      []jsontext.Value `json:"keys"`
}

// SnapshotInfo describes a snapshot (ReadSnapshot).
type SnapshotInfo struct {
	Issuer    string    // the issuer whose keys these are
	JWKSURI   string    // where they were fetched
	FetchedAt time.Time // when
	Keys      int       // how many keys pass the checks
}

// ReadSnapshot checks a snapshot's form and keys (the checks fetched keys
// pass) and describes it. It does not check the issuer against any
// configuration: IssuerConfig.Snapshot does that.
func ReadSnapshot(data []byte) (SnapshotInfo, error) {
	s, keys, err := parseSnapshot(data, "", slog.New(slog.DiscardHandler))
	if err != nil {
		return SnapshotInfo{}, err
	}
	return SnapshotInfo{Issuer: s.Issuer, JWKSURI: s.JWKSURI, FetchedAt: s.FetchedAt, Keys: len(keys)}, nil
}

// parseSnapshot decodes a snapshot strictly (no unknown or duplicate
// members, no trailing data) and parses its keys; name is the configured
// issuer's, for the log.
func parseSnapshot(data []byte, name string, log *slog.Logger) (*snapshotFile, map[string]*key, error) {
	if len(data) > maxSnapshotBytes {
		return nil, nil, fmt.Errorf("snapshot: larger than %d bytes", maxSnapshotBytes)
	}
	var s snapshotFile
	if err := json.Unmarshal(data, &s, json.RejectUnknownMembers(true)); err != nil {
		return nil, nil, fmt.Errorf("snapshot: %w", err)
	}
	switch {
	case s.Issuer == "":
		return nil, nil, errors.New("snapshot: no issuer")
	case s.FetchedAt.IsZero():
		return nil, nil, errors.New("snapshot: no fetched_at")
	case s.Keys == nil:
		return nil, nil, errors.New("snapshot: no keys member")
	}
	if err := checkFetchURL(s.JWKSURI); err != nil {
		return nil, nil, fmt.Errorf("snapshot: jwks_uri: %w", err)
	}
	ks := &keySet{iss: &issuer{cfg: IssuerConfig{Name: name}}, log: log}
	keys, err := ks.parseKeys(s.Keys, "snapshot")
	if err != nil {
		return nil, nil, err
	}
	return &s, keys, nil
}

// seed installs a snapshot as the key set's state, as if fetched at its
// fetched_at. It is called by NewVerifier, before the key set is used.
func (ks *keySet) seed(data []byte) error {
	s, keys, err := parseSnapshot(data, ks.iss.cfg.Name, ks.log)
	if err != nil {
		return err
	}
	cfg := &ks.iss.cfg
	if s.Issuer != cfg.Issuer {
		return fmt.Errorf("snapshot: the snapshot is for issuer %q, not %q", s.Issuer, cfg.Issuer)
	}
	now := ks.now()
	if s.FetchedAt.After(now.Add(cfg.Leeway)) {
		// A future fetched_at would stretch MaxKeyAge.
		return fmt.Errorf("snapshot: fetched_at %s is in the future", s.FetchedAt.UTC().Format(time.RFC3339))
	}
	if age := now.Sub(s.FetchedAt); age > cfg.MaxKeyAge {
		ks.log.Info("authn: key snapshot is older than max_key_age: keys will be fetched before first use",
			"issuer", cfg.Name, "age", age.Round(time.Second).String(), "max_key_age", cfg.MaxKeyAge.String())
	}
	ks.state.Store(&keyState{keys: keys, fetchedAt: s.FetchedAt, seeded: true})
	return nil
}

// FetchSnapshot fetches ic's discovery document (unless ic.JWKSURL is set)
// and JWKS with the verifier's own rules (https only, or http to loopback;
// size limits; the discovery document must name ic.Issuer exactly) and
// returns the snapshot of its usable keys, fetched at now, as indented
// JSON. Of ic it reads Name, Type, Issuer, DiscoveryURL, JWKSURL and
// HTTPClient; client is used when ic.HTTPClient is nil, and nil means a
// client with a 10 s timeout.
func FetchSnapshot(ctx context.Context, ic IssuerConfig, client *http.Client, now time.Time) ([]byte, error) {
	if ic.Issuer == "" {
		return nil, errors.New("authn: snapshot: no issuer URL")
	}
	templated := strings.Contains(strings.ToLower(ic.Issuer), "{tenantid}")
	if templated && ic.DiscoveryURL == "" && ic.JWKSURL == "" {
		return nil, errors.New("authn: snapshot: a templated issuer needs a discovery or JWKS URL")
	}
	for _, u := range []string{ic.DiscoveryURL, ic.JWKSURL} {
		if u != "" {
			if err := checkFetchURL(u); err != nil {
				return nil, fmt.Errorf("authn: snapshot: %w", err)
			}
		}
	}
	if ic.JWKSURL == "" && ic.DiscoveryURL == "" {
		if err := checkFetchURL(ic.Issuer); err != nil {
			return nil, fmt.Errorf("authn: snapshot: issuer: %w", err)
		}
	}
	if ic.HTTPClient != nil {
		client = ic.HTTPClient
	}
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	ks := &keySet{iss: &issuer{cfg: ic}, client: client, now: func() time.Time { return now }, log: slog.New(slog.DiscardHandler)}
	jwksURL, raws, err := ks.fetchDocuments(ctx)
	if err != nil {
		return nil, fmt.Errorf("authn: snapshot: %w", err)
	}
	if _, err := ks.parseKeys(raws, "jwks"); err != nil {
		return nil, fmt.Errorf("authn: snapshot: %w", err)
	}
	s := snapshotFile{Issuer: ic.Issuer, JWKSURI: jwksURL, FetchedAt: now.UTC().Truncate(time.Second), Keys: []jsontext.Value{}}
	for _, raw := range raws {
		if _, err := parseJWK(raw); err == nil {
			s.Keys = append(s.Keys, raw)
		}
	}
	out, err := json.Marshal(s, jsontext.WithIndent("  "))
	if err != nil {
		return nil, fmt.Errorf("authn: snapshot: %w", err)
	}
	return append(out, '\n'), nil
}
