package cli

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse/authn"
	"github.com/gatehouse-dev/gatehouse/build"
	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/devkit/devca"
)

// Hints: what to do about an error, printed with it. They name values of
// the user's own input and configuration (an audience, a file), never a
// token, a secret or a key.

// hintError is an error with what to do about it.
type hintError struct {
	err  error
	hint string
}

func (h *hintError) Error() string { return h.err.Error() + "\nhint: " + h.hint }
func (h *hintError) Unwrap() error { return h.err }

func withHint(err error, hint string) error { return &hintError{err, hint} }

// readToken is a token given on the command line, or on standard input
// for "-". A token pasted with the "Bearer " of its Authorization header
// is taken without it, with a note: the input is the user's own, and
// nothing else could have been meant.
func readToken(e *env, arg string) (string, error) {
	raw := arg
	if arg == "-" {
		b, err := io.ReadAll(io.LimitReader(e.stdin, 1<<20))
		if err != nil {
			return "", err
		}
		raw = string(b)
	}
	raw = strings.TrimSpace(raw)
	if rest, ok := cutPrefixFold(raw, "Authorization:"); ok {
		raw = strings.TrimSpace(rest)
	}
	if rest, ok := cutPrefixFold(raw, "Bearer "); ok {
		raw = strings.TrimSpace(rest)
		fmt.Fprintln(e.stderr, `gatehouse: note: the token starts with "Bearer ", which was dropped: only the token itself is wanted`)
	}
	return raw, nil
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}

// verifyToken verifies raw against f's issuers. A rejection is printed,
// with what failed and a hint where one helps, and returned as exit 1; an
// issuer whose keys cannot be fetched (a stopped `gatehouse dev` too) as
// exit 3. With status, the line starts with the gateway's status (401 or
// 503), as aws credentials prints its steps.
func verifyToken(ctx context.Context, e *env, f *config.File, configPath, stateDir, raw string, status bool) (*authn.Principal, error) {
	prefix := func(code int) string {
		if status {
			return strconv.Itoa(code) + " "
		}
		return ""
	}
	dev, err := devAuthorityFor(f, stateDir)
	if err != nil {
		var nd *noDevError
		if errors.As(err, &nd) {
			fmt.Fprintf(e.stderr, "%stoken not checked: the development IdP's keys cannot be fetched: %v\n", prefix(http.StatusServiceUnavailable), err)
			return nil, exitError{code: exitUnavailable}
		}
		return nil, err
	}
	v, err := build.Verifier(f, optionsFor(configPath, dev, "", e.log))
	if err != nil {
		return nil, err
	}
	p, err := v.Verify(ctx, raw)
	if err == nil {
		return p, nil
	}
	ae := authn.AsError(err)
	code, verdict := http.StatusUnauthorized, "rejected"
	if ae.Kind == authn.Unavailable {
		code, verdict = http.StatusServiceUnavailable, "not checked"
	}
	fmt.Fprintf(e.stderr, "%stoken %s: %s check failed: %s (%s)\n", prefix(code), verdict, ae.Check, ae.Reason, ae.Kind)
	if ae.Err != nil {
		fmt.Fprintf(e.stderr, "  cause: %v\n", ae.Err)
	}
	switch {
	case ae.Check == authn.CheckAudience:
		fmt.Fprint(e.stderr, audienceHint(f, configPath, raw))
	case isUnknownAuthority(err):
		fmt.Fprintf(e.stderr, "hint: %s\n", caHintConfig(f, stateDir, raw))
	}
	if ae.Kind == authn.Unavailable {
		return nil, exitError{code: exitUnavailable}
	}
	return nil, exitError{code: 1}
}

// claims is what a hint may show of a token: read from its payload
// without checking the signature, only to explain a rejection locally.
type claims struct {
	Iss string          `json:"iss"`
	Aud json.RawMessage `json:"aud"`
}

func unverifiedClaims(raw string) (claims, bool) {
	var c claims
	parts := strings.Split(raw, ".")
	if len(parts) != 3 || len(parts[1]) > 64<<10 {
		return c, false
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil || json.Unmarshal(b, &c) != nil {
		return c, false
	}
	return c, true
}

// audiences is aud, a string or a list of them.
func (c claims) audiences() []string {
	var one string
	if json.Unmarshal(c.Aud, &one) == nil {
		return []string{one}
	}
	var many []string
	json.Unmarshal(c.Aud, &many)
	return many
}

// quoteList quotes up to 5 values, each cut to 80 bytes, for a hint.
func quoteList(vs []string) string {
	var q []string
	for i, v := range vs {
		if i == 5 {
			q = append(q, fmt.Sprintf("and %d more", len(vs)-5))
			break
		}
		if len(v) > 80 {
			v = v[:80] + "..."
		}
		q = append(q, strconv.Quote(v))
	}
	if len(q) == 0 {
		return "none"
	}
	return strings.Join(q, ", ")
}

// audienceHint says which audiences the token has and which the
// configuration accepts, and where they are set.
func audienceHint(f *config.File, configPath, raw string) string {
	var b strings.Builder
	if c, ok := unverifiedClaims(raw); ok {
		fmt.Fprintf(&b, "hint: the token's audience (aud) is %s\n", quoteList(c.audiences()))
	}
	where := "the embedded development configuration (pass --config to use your own)"
	if configPath != "" {
		where = configPath
	}
	for i, is := range f.AuthN.Issuers {
		fmt.Fprintf(&b, "hint: issuer %s accepts %s: authn.issuers[%d].audiences in %s\n", is.Name, quoteList(is.Audiences), i, where)
	}
	return b.String()
}

// isUnknownAuthority reports whether err is a TLS certificate that no
// trusted authority signed.
func isUnknownAuthority(err error) bool {
	var ua x509.UnknownAuthorityError
	return errors.As(err, &ua)
}

// devCAFile is where `gatehouse dev` keeps its CA, for a hint; "" is
// where it does by default.
func devCAFile(stateDir string) string {
	if stateDir != "" {
		return filepath.Join(stateDir, devca.CertFile)
	}
	if def, err := defaultStateDir(); err == nil {
		return fmt.Sprintf("%s in its state directory, %s by default", devca.CertFile, filepath.Join(def, devca.CertFile))
	}
	return devca.CertFile + " in its state directory"
}

// caHintFlag is the hint of a command with --ca-file.
func caHintFlag(stateDir string) string {
	return fmt.Sprintf("the server's certificate is signed by an authority this system does not trust: pass --ca-file with the CA's PEM file (the CA of 'gatehouse dev' is %s)", devCAFile(stateDir))
}

// caHintConfig is the hint of a command that reaches the issuers of its
// configuration: ca_file of the token's issuer, or of each.
func caHintConfig(f *config.File, stateDir, raw string) string {
	field := "authn.issuers[N].ca_file"
	if len(f.AuthN.Issuers) == 1 {
		field = "authn.issuers[0].ca_file"
	}
	if c, ok := unverifiedClaims(raw); ok {
		for i, is := range f.AuthN.Issuers {
			if is.Issuer != "" && is.Issuer == c.Iss {
				field = fmt.Sprintf("authn.issuers[%d].ca_file", i)
			}
		}
	}
	dir, _ := resolveStateDir(stateDir, f.Dev.StateDir)
	return fmt.Sprintf("the issuer's certificate is signed by an authority this system does not trust: set %s in the configuration to the CA's PEM file (the CA of 'gatehouse dev' is %s)", field, devCAFile(dir))
}

// withKnown adds the names there are to a lookup that found nothing.
func withKnown(err error, what string, names []string) error {
	if !errors.Is(err, config.ErrNotFound) || len(names) == 0 {
		return err
	}
	return fmt.Errorf("%w\nknown %s: %s", err, what, strings.Join(names, ", "))
}

// knownUsers are the tenant's users by the part of the UPN before '@', or
// the whole UPN where two share that part.
func knownUsers(t config.Tenant) []string {
	count := map[string]int{}
	for _, u := range t.Users {
		name, _, _ := strings.Cut(u.UPN, "@")
		count[strings.ToLower(name)]++
	}
	var out []string
	for _, u := range t.Users {
		name, _, _ := strings.Cut(u.UPN, "@")
		if count[strings.ToLower(name)] > 1 {
			name = u.UPN
		}
		out = append(out, name)
	}
	return out
}

// knownApps are the tenant's apps by name.
func knownApps(t config.Tenant) []string {
	var out []string
	for _, a := range t.Apps {
		out = append(out, a.Name)
	}
	return out
}
