// Package secrets reads the secrets gatehouse holds (the audit pseudonym
// key, the audit database's connection string) from where the
// configuration says they live — a file, AWS Secrets Manager or Azure Key
// Vault — and keeps them fresh.
//
// In: a Source per reference (FileSource, AWSSource with a Secrets
// Manager client, AzureSource with a Key Vault client) and the schedule
// (Config). Out: a *Secret per reference whose Get returns the last good
// value and its version, and a Set that loads them all at start (a store
// that cannot be reached then refuses the start, naming the reference),
// refreshes them on the schedule and on demand (SIGHUP), keeps the last
// good value through an outage up to MaxAge (then Get fails: never a
// fallback to something weaker), tells subscribers when a value changes,
// and reports each secret's state for /readyz and metrics.
//
// Values never leave through this package's errors, logs, metrics or
// String methods: only references and versions do.
//
// Left to others: which configuration field names which reference, and
// building the store clients (package build); using a rotated value (each
// consumer subscribes with OnChange or calls Get at each use).
package secrets
