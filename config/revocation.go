package config

import "time"

// Revocation is the `revocation:` section: revocations (`gatehouse revoke`)
// refuse a user, an app or agent, or one token before it expires, at every
// replica within a second. They live in PostgreSQL and reach the replicas
// through LISTEN/NOTIFY.
type Revocation struct {
	// Store is "postgres" to check revocations; "" (the default) means
	// none are checked.
	Store string `yaml:"store,omitempty"`
	// DSN is where the connection string lives (a secret reference); unset
	// means audit.dsn (with the postgres audit sink).
	DSN SecretRef `yaml:"dsn,omitempty"`
	// MaxStaleness is how long the replica's copy may go unconfirmed while
	// the store cannot be reached before OnStale applies; 0 means 10s
	// (1s to 10m).
	MaxStaleness time.Duration `yaml:"max_staleness,omitempty"`
	// OnStale is fail_closed (the default: every request is refused with
	// 503 until the store answers again) or serve_stale (keep checking
	// against the last copy).
	OnStale string `yaml:"on_stale,omitempty"`
}

// Enabled reports whether revocations are checked.
func (r *Revocation) Enabled() bool { return r.Store != "" }

// revocation checks the section.
func (v *validator) revocation(f *File) {
	r := &f.Revocation
	switch r.Store {
	case "":
		if !r.DSN.IsZero() || r.MaxStaleness != 0 || r.OnStale != "" {
			v.add("revocation.store", "is not set: set it to postgres to check revocations, or remove the section")
		}
		return
	case "postgres":
	default:
		v.add("revocation.store", "%s: want postgres", short(r.Store))
	}
	if r.DSN.IsZero() && f.Audit.Sink != "postgres" {
		v.add("revocation.dsn", "is required unless the audit trail is in PostgreSQL (then audit.dsn is used): where the connection string lives")
	}
	if !r.DSN.IsZero() {
		v.secretRef("revocation.dsn", r.DSN)
	}
	if r.MaxStaleness != 0 && (r.MaxStaleness < time.Second || r.MaxStaleness > 10*time.Minute) {
		v.add("revocation.max_staleness", "%s: want 1s to 10m", r.MaxStaleness)
	}
	switch r.OnStale {
	case "", "fail_closed", "serve_stale":
	default:
		v.add("revocation.on_stale", "%s: want fail_closed or serve_stale", short(r.OnStale))
	}
}

// RevocationDSNField is the secret field revocation reads its connection
// string from: revocation.dsn, else audit.dsn.
func (f *File) RevocationDSNField() string {
	if !f.Revocation.DSN.IsZero() {
		return "revocation.dsn"
	}
	return "audit.dsn"
}
