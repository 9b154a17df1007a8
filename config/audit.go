package config

import (
	"reflect"
	"time"

	"github.com/gatehouse-dev/gatehouse/audit"
)

// Audit is the `audit:` section: where every request's event goes.
type Audit struct {
	// Sink is sqlite (embedded, the default), postgres (a shared store for
	// several gateways) or jsonl (JSON lines on standard output).
	Sink string `yaml:"sink"`
	// Path is the SQLite file; "" in `gatehouse dev` means
	// <state dir>/audit.db. Required for sqlite under `gatehouse serve`.
	Path string `yaml:"path,omitempty"`
	// DSNFile is a file holding the PostgreSQL connection string (a
	// secret: never written in this file or the environment); the same
	// as DSN: {file: ...}.
	DSNFile string `yaml:"dsn_file,omitempty"`
	// DSN is where the PostgreSQL connection string lives. A rotated
	// value (a new password) is used for new connections from the next
	// refresh on.
	DSN SecretRef `yaml:"dsn,omitempty"`
	// Mode is sync (the event is committed before the response leaves; the
	// default) or async (batched; see docs/audit.md for the loss window).
	Mode string `yaml:"mode"`
	// OnUnavailable is fail_closed (503 while the sink is down; the
	// default) or spool (write to SpoolDir, replayed in order later).
	OnUnavailable string `yaml:"on_unavailable"`
	// SpoolDir is where spooled events wait; "" in dev means
	// <state dir>/spool.
	SpoolDir string `yaml:"spool_dir,omitempty"`
	// Retention deletes events older than this; 0 keeps them all.
	Retention time.Duration `yaml:"retention,omitempty"`
	// Claims are the token claims (beyond the identity fields) that may be
	// stored, sanitised; never names, e-mail addresses or UPNs.
	Claims []string `yaml:"claims,omitempty"`
	// KeyFile holds the pseudonym key (at least 32 bytes); "" in dev means
	// <state dir>/audit-key, generated on first start.
	KeyFile string `yaml:"key_file,omitempty"`
	// Key is where the pseudonym key lives, as a secret reference (a
	// binary key in a text store takes encoding: base64); KeyFile is the
	// same as Key: {file: ...}. A rotated value (a new version in its
	// store) names principals in new events from the next refresh on.
	Key SecretRef `yaml:"key,omitempty"`
	// PreviousKeys are where earlier pseudonym keys live (each a secret
	// reference, at least 32 bytes): readers (`gatehouse audit query
	// --user`) find a user's events written under any of them too.
	PreviousKeys []SecretRef `yaml:"previous_keys,omitempty"`
	// SigningKeyFile holds the PEM private key (Ed25519, ECDSA or RSA) that
	// signs checkpoints; "" in dev means <state dir>/audit-signing.pem,
	// generated on first start.
	SigningKeyFile string `yaml:"signing_key_file,omitempty"`
	// SigningKey, instead of SigningKeyFile, keeps the checkpoint signing
	// key in AWS KMS or Azure Key Vault: checkpoints are signed through
	// the vault (RSA or ECDSA P-256), and a new version signs from the next
	// refresh on.
	SigningKey KeyRef `yaml:"signing_key,omitempty"`
	// PreviousSigningKeys are earlier versions of SigningKey (a KMS key id
	// or ARN, a Key Vault key with its version): `gatehouse audit verify`
	// checks checkpoints they signed too.
	PreviousSigningKeys []KeyRef `yaml:"previous_signing_keys,omitempty"`
	// Replica names this gateway in events; "" means the host name.
	Replica string `yaml:"replica,omitempty"`
}

func (v *validator) audit(a *Audit) {
	switch a.Sink {
	case "sqlite", "jsonl":
	case "postgres":
		if a.DSNFile == "" && a.DSN.IsZero() {
			v.add("audit.dsn", "is required for the postgres sink: where the connection string lives (dsn_file: PATH, or dsn: a secret reference)")
		}
	default:
		v.add("audit.sink", "%s: want sqlite, postgres or jsonl", short(a.Sink))
	}
	if a.Sink != "postgres" && (a.DSNFile != "" || !a.DSN.IsZero()) {
		v.add("audit.dsn", "is only used by the postgres sink (sink is %s)", short(a.Sink))
	}
	if a.DSNFile != "" && !a.DSN.IsZero() {
		v.add("audit.dsn", "and audit.dsn_file both name the connection string: keep one")
	}
	v.secretRef("audit.dsn", a.DSN)
	if a.KeyFile != "" && !a.Key.IsZero() {
		v.add("audit.key", "and audit.key_file both name the pseudonym key: keep one")
	}
	v.secretRef("audit.key", a.Key)
	for i, r := range a.PreviousKeys {
		field := indexPath("audit.previous_keys", i)
		if r.IsZero() {
			v.add(field, "names no place: give file, aws_secrets_manager or azure_key_vault")
			continue
		}
		v.secretRef(field, r)
		if reflect.DeepEqual(r, a.Key) {
			v.add(field, "is audit.key itself: list the keys used before it")
		}
		for j, q := range a.PreviousKeys[:i] {
			if reflect.DeepEqual(r, q) {
				v.add(field, "is audit.previous_keys[%d] again", j)
				break
			}
		}
	}
	if a.Mode != "sync" && a.Mode != "async" {
		v.add("audit.mode", "%s: want sync or async", short(a.Mode))
	}
	if a.OnUnavailable != "fail_closed" && a.OnUnavailable != "spool" {
		v.add("audit.on_unavailable", "%s: want fail_closed or spool", short(a.OnUnavailable))
	}
	if a.Retention < 0 || (a.Retention > 0 && a.Retention < time.Hour) {
		v.add("audit.retention", "must be 0 (keep all) or at least 1h")
	}
	for i, c := range a.Claims {
		if audit.IsPersonalClaim(c) {
			v.add(indexPath("audit.claims", i), "%s is personal data and is never stored", short(c))
		}
	}
}
