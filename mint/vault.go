package mint

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/privatefile"
)

// A signing key kept in a vault (AWS KMS, Azure Key Vault) never reaches
// gatehouse: the Issuer holds its public half and a signer that calls the
// vault. The vault names one version as current (a KMS alias's target, a
// Key Vault key's latest version); rotation there makes another version
// current. The Issuer publishes a new version in its JWKS at once and
// signs with it only PublishAhead later, so every replica (each seeing the
// new version at its next refresh) and every verifier's cached JWKS know
// it before any token it signed arrives. The version it replaces stays
// published until the last token it signed has expired.
//
// What was published when is kept in KeyDir (VaultStateFileName, public
// keys only), so a restart during a rotation neither signs early with the
// new version nor drops the old one from the JWKS.

// VaultStateFileName is the file in Config.KeyDir where an Issuer with a
// vault key records the versions it publishes.
const VaultStateFileName = "issuer-vault-keys.json"

// VaultKeys signs with versions of a key kept in a vault.
type VaultKeys interface {
	// Signer returns a signer for version, whose public key is pkix (PKIX
	// DER): an RSA key of at least 2048 bits or an ECDSA P-256 key.
	Signer(version string, pkix []byte) (crypto.Signer, error)
}

// Vault configures an Issuer whose signing key is kept in a vault.
type Vault struct {
	// Keys makes signers; required.
	Keys VaultKeys
	// Version and Public are the version the vault names current at start
	// and its public key (PKIX DER); required. Later versions come in
	// through Issuer.VaultVersion.
	Version string
	Public  []byte
	// PublishAhead is how long a new version is published before it
	// signs; at least every replica's refresh interval. 0 means 10 min.
	PublishAhead time.Duration
}

const defaultPublishAhead = 10 * time.Minute

// vaultKey is one version in the state file.
type vaultKey struct {
	Version   string    `json:"version"`
	Public    []byte    `json:"public_key"` // PKIX DER
	State     string    `json:"state"`
	Seen      time.Time `json:"seen"`
	SignsFrom time.Time `json:"signs_from,omitzero"` // a next key's promotion
	Retired   time.Time `json:"retired,omitzero"`
}

type vaultStateFile struct {
	Keys []vaultKey `json:"keys"`
}

// vaultState is the Issuer's view of the vault's versions; Issuer.mu
// guards it.
type vaultState struct {
	keys    VaultKeys
	ahead   time.Duration
	path    string // "" in memory
	records []vaultKey
	signers map[string]crypto.Signer // by version
}

// openVault loads the state file (if any), takes in the version current at
// start and installs the keys.
func (i *Issuer) openVault(v *Vault, dir string) error {
	if v.Keys == nil || v.Version == "" || len(v.Public) == 0 {
		return errors.New("mint: vault key: no signer, version or public key")
	}
	st := &vaultState{keys: v.Keys, ahead: v.PublishAhead, signers: map[string]crypto.Signer{}}
	if st.ahead <= 0 {
		st.ahead = defaultPublishAhead
	}
	if dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("mint: issuer key directory: %w", err)
		}
		st.path = filepath.Join(dir, VaultStateFileName)
		b, _, err := privatefile.Read(st.path, 1<<20)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return fmt.Errorf("mint: %w", err)
		default:
			var f vaultStateFile
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&f); err != nil {
				return fmt.Errorf("mint: %s: %w", st.path, err)
			}
			st.records = f.Keys
		}
	}
	i.vault = st
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.observeLocked(v.Version, v.Public, true)
}

// VaultVersion tells the Issuer which version the vault names current now
// (each refresh of the key's reference calls it): a new version is
// published at once and signs PublishAhead later.
func (i *Issuer) VaultVersion(version string, pkix []byte) error {
	if i.vault == nil {
		return errors.New("mint: the issuer's key is not kept in a vault")
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.observeLocked(version, pkix, false)
}

// observeLocked records version as the vault's current one, promotes what
// is due, and installs the result.
func (i *Issuer) observeLocked(version string, pkix []byte, start bool) error {
	st, now := i.vault, i.now().UTC()
	if _, err := x509.ParsePKIXPublicKey(pkix); err != nil {
		return fmt.Errorf("mint: vault key version %s: %w", version, err)
	}
	idx := slices.IndexFunc(st.records, func(r vaultKey) bool { return r.Version == version })
	if idx >= 0 && !bytes.Equal(st.records[idx].Public, pkix) {
		return fmt.Errorf("mint: vault key version %s came back with another public key", version)
	}
	hasCurrent := slices.ContainsFunc(st.records, func(r vaultKey) bool { return r.State == keyCurrent })
	switch {
	case idx >= 0 && st.records[idx].State != keyRetired:
		// Known: current, or next on its way.
	case !hasCurrent:
		// Nothing signs yet (first start): nothing to publish ahead of.
		st.records = append(st.records, vaultKey{Version: version, Public: pkix, State: keyCurrent, Seen: now})
	default:
		if idx >= 0 { // rolled back to a retired version: publish it again first
			st.records = slices.Delete(st.records, idx, idx+1)
		}
		// A next version the vault no longer names never signed: drop it.
		st.records = slices.DeleteFunc(st.records, func(r vaultKey) bool { return r.State == keyNext })
		st.records = append(st.records, vaultKey{Version: version, Public: pkix, State: keyNext, Seen: now, SignsFrom: now.Add(st.ahead)})
		i.log.Info("mint: new issuer key version published; it signs after the publish-ahead time", "version", version, "signs_from", now.Add(st.ahead))
	}
	changed := i.promoteLocked(now)
	if err := i.installVaultLocked(); err != nil {
		return err
	}
	if st.path != "" && (changed || idx < 0 || start) {
		return writeVaultState(st.path, st.records)
	}
	return nil
}

// promoteLocked makes a due next version current, retiring the current
// one, and forgets retired versions no longer published.
func (i *Issuer) promoteLocked(now time.Time) bool {
	st := i.vault
	changed := false
	for j, r := range st.records {
		if r.State != keyNext || now.Before(r.SignsFrom) {
			continue
		}
		for k := range st.records {
			if st.records[k].State == keyCurrent {
				st.records[k].State, st.records[k].Retired = keyRetired, now
			}
		}
		st.records[j].State = keyCurrent
		changed = true
		i.log.Info("mint: issuer key version now signs", "version", r.Version)
	}
	n := len(st.records)
	st.records = slices.DeleteFunc(st.records, func(r vaultKey) bool {
		return r.State == keyRetired && now.Sub(r.Retired) > retiredPublished
	})
	return changed || len(st.records) != n
}

// installVaultLocked builds the key snapshot from the records.
func (i *Issuer) installVaultLocked() error {
	st := i.vault
	ks := &issuerKeys{}
	due := time.Time{}
	for _, r := range st.records {
		s, ok := st.signers[r.Version]
		if !ok {
			var err error
			if s, err = st.keys.Signer(r.Version, r.Public); err != nil {
				return fmt.Errorf("mint: vault key version %s: %w", r.Version, err)
			}
			st.signers[r.Version] = s
		}
		k := &issuerKey{State: r.State, Created: r.Seen, Retired: r.Retired}
		if err := k.setSigner(s); err != nil {
			return fmt.Errorf("%w (vault key version %s)", err, r.Version)
		}
		ks.keys = append(ks.keys, k)
		switch r.State {
		case keyCurrent:
			ks.current = k
		case keyNext:
			if due.IsZero() || r.SignsFrom.Before(due) {
				due = r.SignsFrom
			}
		}
	}
	for v := range st.signers {
		if !slices.ContainsFunc(st.records, func(r vaultKey) bool { return r.Version == v }) {
			delete(st.signers, v)
		}
	}
	if ks.current == nil {
		return errors.New("mint: no vault key version signs")
	}
	i.installKeys(ks)
	if due.IsZero() {
		i.vaultDue.Store(0)
	} else {
		i.vaultDue.Store(due.UnixNano())
	}
	return nil
}

// vaultSnapshot promotes a next version whose time has come; the check is
// one atomic load until then.
func (i *Issuer) vaultSnapshot() *issuerKeys {
	due := i.vaultDue.Load()
	if due == 0 || i.now().UnixNano() < due {
		return i.keys.Load()
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	now := i.now().UTC()
	if i.promoteLocked(now) {
		if err := i.installVaultLocked(); err != nil {
			i.log.Error("mint: promoting the next vault key version failed; the current one keeps signing", "err", err)
			i.vaultDue.Store(0)
			return i.keys.Load()
		}
		if i.vault.path != "" {
			if err := writeVaultState(i.vault.path, i.vault.records); err != nil {
				i.log.Error("mint: recording the vault key versions failed", "err", err)
			}
		}
	}
	return i.keys.Load()
}

func writeVaultState(path string, records []vaultKey) error {
	b, err := json.MarshalIndent(vaultStateFile{Keys: records}, "", "  ")
	if err != nil {
		return err
	}
	if err := privatefile.Write(path, append(b, '\n')); err != nil {
		return fmt.Errorf("mint: %w", err)
	}
	return nil
}
