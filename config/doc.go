// Package config is gatehouse's configuration file: its types, strict
// loading, defaults and validation, and the embedded development
// configuration of `gatehouse dev`.
//
// In goes one YAML file (Load, Parse); out comes a *File whose defaults are
// applied and which has passed Validate, or an error that lists every
// problem at once, in file order, each a *Problem naming file, line, column
// and field:
//
//	gatehouse.yaml:12:7: authn.issuers[0].audience: unknown field "audience" (did you mean "audiences"?)
//	gatehouse.yaml:14:9: authn.issuers[0].algorithms[1]: "none" is refused: it accepts unsigned tokens, which anyone can forge
//
// Decoding is strict at every depth, inside list items and type-specific
// sections alike: an unknown or duplicate key, a value of the wrong kind,
// several YAML documents, anchors, aliases, merge keys and tags are all
// problems, so that a typo never silently drops a check. Files over
// MaxFileSize, or nested deeper or with larger mappings than any
// configuration needs, are refused before parsing.
//
// Defaults live in ApplyDefaults alone; each field's doc says what its zero
// value means. Validate is pure: no I/O, no network, no globals.
//
// It also finds tenants, users and apps of the development directory by
// the names people type (IDP.Tenant, Tenant.User, Tenant.App,
// IDP.ResolveUser), for `gatehouse token` and `gatehouse audit query`.
//
// What it leaves to others: the file format is kept apart from each step's
// runtime Config, and the CLI (or gatehouse/lambdaconfig, in a function)
// converts a File into those (authn.Config, idp.Config, ...). Two
// conversions live here because both need them: Issuer.Runtime (an issuer
// as the verifier's issuers; it reads ca_file, and resolves the authority
// "dev" from the DevAuthority it is given) and File.CredsRoles. The CLI
// resolves what only a running process knows: the default state directory
// and the development IdP's URL.
package config
