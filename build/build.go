package build

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/gatehouse-dev/gatehouse/authn"
	"github.com/gatehouse-dev/gatehouse/authz"
	"github.com/gatehouse-dev/gatehouse/config"
)

// Options are what the file cannot say.
type Options struct {
	// Dir is where the file's relative paths start (authz.policy_files,
	// ca_file, the audit files, creds.issuer.key_dir): the configuration
	// file's directory; "" means the working directory.
	Dir string
	// Dev resolves the Entra authority "dev" (the development IdP); nil
	// refuses it.
	Dev *config.DevAuthority
	// StateDir is `gatehouse dev`'s state directory, where files the
	// configuration leaves unnamed live (and are created on first use);
	// "" outside dev, where they must be named.
	StateDir string
	// Logger is given to every part; nil means slog.Default().
	Logger *slog.Logger
	// Secrets are the file's secret references, loaded and kept fresh by
	// the caller (serve, dev); nil means each part that needs a secret
	// reads it once (the CLI's readers of the trail).
	Secrets *Secrets
}

func (o Options) logger() *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return slog.Default()
}

// Path is where a path the file names is: p itself when absolute, under
// the user's home directory when it starts with "~/", else under Dir.
func (o Options) Path(p string) string { return o.path(p) }

func (o Options) path(p string) string {
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, rest)
		}
		return p
	}
	if p == "" || filepath.IsAbs(p) || o.Dir == "" {
		return p
	}
	return filepath.Join(o.Dir, p)
}

// AuthN is the authn section as the verifier's Config: an Entra issuer
// becomes one issuer per accepted token version; ca_file is read.
func AuthN(f *config.File, o Options) (authn.Config, error) {
	c := authn.Config{MaxTokenBytes: f.AuthN.MaxTokenBytes, CacheEntries: f.AuthN.CacheEntries, Logger: o.Logger}
	var errs []error
	for i, is := range f.AuthN.Issuers {
		is.CAFile = o.path(is.CAFile)
		ics, err := is.Runtime(o.Dev)
		if err != nil {
			errs = append(errs, fmt.Errorf("authn.issuers[%d] (%s): %w", i, is.Name, err))
			continue
		}
		c.Issuers = append(c.Issuers, ics...)
	}
	return c, errors.Join(errs...)
}

// Verifier builds step 1. It fetches no keys: the caller decides when
// (Verifier.Refresh).
func Verifier(f *config.File, o Options) (*authn.Verifier, error) {
	c, err := AuthN(f, o)
	if err != nil {
		return nil, err
	}
	return authn.NewVerifier(c)
}

// AuthZ is the authz section as the policy's Config, with its Cedar files
// read (relative to Options.Dir). Each file is named as the configuration
// writes it, so policy ids do not depend on where gatehouse runs.
func AuthZ(f *config.File, o Options) (authz.Config, error) {
	var files []authz.PolicyFile
	var errs []error
	for i, p := range f.AuthZ.PolicyFiles {
		b, err := os.ReadFile(o.path(p))
		if err != nil {
			errs = append(errs, fmt.Errorf("authz.policy_files[%d]: %w", i, err))
			continue
		}
		files = append(files, authz.PolicyFile{Name: p, Text: b})
	}
	return f.AuthZ.Runtime(files), errors.Join(errs...)
}

// Policy builds step 2. Its error joins every problem (authz.Problems).
func Policy(f *config.File, o Options) (*authz.Engine, error) {
	c, err := AuthZ(f, o)
	if err != nil {
		return nil, err
	}
	return authz.New(c)
}

// PolicyFiles are the Cedar files the configuration reads, as paths: what
// a reload watches besides the file itself.
func PolicyFiles(f *config.File, o Options) []string {
	var out []string
	for _, p := range f.AuthZ.PolicyFiles {
		out = append(out, o.path(p))
	}
	return out
}
