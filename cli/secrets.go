package cli

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/build"
	"github.com/gatehouse-dev/gatehouse/secrets"
)

// secretStatus is one secret as `gatehouse secrets` prints it and the
// admin listener answers: the reference and version, never the value.
type secretStatus struct {
	Field     string    `json:"field,omitempty"`
	Ref       string    `json:"secret"`
	Version   string    `json:"version,omitempty"`
	Fetched   time.Time `json:"fetched,omitzero"`
	Usable    bool      `json:"usable"`
	LastError string    `json:"last_error,omitempty"`
}

func statusOf(sts []secrets.Status) []secretStatus {
	out := make([]secretStatus, 0, len(sts))
	for _, st := range sts {
		out = append(out, secretStatus{Ref: st.Ref, Version: st.Version, Fetched: st.Fetched, Usable: st.Usable, LastError: st.LastError})
	}
	return out
}

// secretsAdmin are the admin listener's secrets endpoints: the state of
// each secret, and a refresh now (as SIGHUP does).
func secretsAdmin(set *secrets.Set) map[string]http.Handler {
	answer := func(w http.ResponseWriter, err error) {
		w.Header().Set("Content-Type", "application/json")
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
		}
		json.NewEncoder(w).Encode(statusOf(set.Status()))
	}
	return map[string]http.Handler{
		"GET /secrets": http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { answer(w, nil) }),
		"POST /secrets/refresh": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx, cancel := context.WithTimeout(r.Context(), time.Minute)
			defer cancel()
			answer(w, set.Refresh(ctx))
		}),
	}
}

func newSecretsCmd(e *env) *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "secrets",
		Short: "Check and refresh the secrets the configuration references",
		Example: `  gatehouse secrets check --config gatehouse.yaml
  gatehouse secrets refresh`,
	})
	var configPath string
	var format string
	check := &cobra.Command{
		Use:   "check --config FILE",
		Short: "Read every secret and vault key reference once and say which can be read (never the values)",
		Long: `check reads each secret the configuration references (files, AWS Secrets
Manager, Azure Key Vault) with the credentials serve would use, and prints
its field, reference and version. Each signing key kept in a vault (AWS
KMS, Azure Key Vault keys) is read and signs one test digest. It exits 1
if one cannot be read or used. Values are never printed.`,
		Example: `  gatehouse secrets check --config gatehouse.yaml
  gatehouse secrets check --config gatehouse.yaml --format json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := loadConfig(configPath)
			if err != nil {
				return err
			}
			// Failures are in the table; the log would say them twice.
			opts := optionsFor(configPath, nil, "", slog.New(slog.DiscardHandler))
			s, err := build.NewSecrets(cmd.Context(), f, opts, nil)
			if err != nil {
				return err
			}
			loadErr := s.Set.Load(cmd.Context())
			var out []secretStatus
			for _, nr := range f.SecretRefs() {
				sec := s.Field(nr.Field)
				st := secretStatus{Field: nr.Field, Ref: sec.String()}
				if v, err := sec.Get(); err == nil {
					st.Version, st.Usable = v.Version, true
				} else {
					st.LastError = err.Error()
				}
				out = append(out, st)
			}
			// The TLS key and certificate, each read, must make one pair.
			var te *build.TLSError
			if err := build.CheckTLS(f, s); errors.As(err, &te) {
				for i := range out {
					if out[i].Field == te.Field {
						out[i].Usable, out[i].LastError = false, te.Error()
					}
				}
				loadErr = errors.Join(loadErr, err)
			}
			// A vault key is read and signs one test digest: the role may
			// read a key it is not allowed to sign with.
			for _, nr := range f.KeyRefs() {
				k := s.Key(nr.Field)
				st := secretStatus{Field: nr.Field, Ref: k.Secret.String()}
				v, err := k.Secret.Get()
				if err == nil {
					err = signProbe(k.Source, v)
				}
				if err == nil {
					st.Version, st.Usable = v.Version, true
				} else {
					st.LastError = err.Error()
					loadErr = errors.Join(loadErr, err)
				}
				out = append(out, st)
			}
			if err := printSecrets(e.stdout, format, out); err != nil {
				return err
			}
			if loadErr != nil {
				return exitError{code: 1}
			}
			return nil
		},
	}
	check.Flags().StringVar(&configPath, "config", "", "configuration file")
	check.MarkFlagRequired("config")
	outputFormat(check, &format, "print the secrets as text or JSON")
	var admin string
	refresh := &cobra.Command{
		Use:   "refresh [--admin URL]",
		Short: "Make a running gatehouse read every secret again now (as SIGHUP does)",
		Long: `refresh asks the admin listener of a running 'gatehouse serve' or 'gatehouse
dev' to read every secret again, and prints what each now holds (reference
and version, never the value). A secret whose store cannot be reached
keeps its last good value, and refresh exits 1.`,
		Example: `  gatehouse secrets refresh
  gatehouse secrets refresh --admin http://127.0.0.1:9447 --format json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 2*time.Minute)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(admin, "/")+"/secrets/refresh", nil)
			if err != nil {
				return err
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return fmt.Errorf("no gatehouse answers at %s (its gateway.admin_listen): %w", admin, err)
			}
			defer resp.Body.Close()
			if resp.StatusCode == http.StatusNotFound {
				return fmt.Errorf("the gatehouse at %s references no secrets", admin)
			}
			var out []secretStatus
			if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out); err != nil {
				return fmt.Errorf("unexpected answer from %s: %w", admin, err)
			}
			if err := printSecrets(e.stdout, format, out); err != nil {
				return err
			}
			if resp.StatusCode != http.StatusOK {
				return exitError{code: 1}
			}
			return nil
		},
	}
	refresh.Flags().StringVar(&admin, "admin", "http://127.0.0.1:9447", "the admin listener's URL (gateway.admin_listen)")
	outputFormat(refresh, &format, "print the secrets as text or JSON")
	cmd.AddCommand(check, refresh)
	return cmd
}

func printSecrets(w io.Writer, format string, out []secretStatus) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	if len(out) == 0 {
		fmt.Fprintln(w, "no secret references")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, st := range out {
		state := "ok"
		if !st.Usable {
			state = "FAILED"
		}
		line := []string{state}
		if st.Field != "" {
			line = append(line, st.Field)
		}
		line = append(line, st.Ref)
		if st.Version != "" {
			line = append(line, "version "+st.Version)
		}
		if st.LastError != "" {
			line = append(line, st.LastError)
		}
		fmt.Fprintln(tw, strings.Join(line, "\t"))
	}
	return tw.Flush()
}

// signProbe signs a digest of zeros with the version v of a vault key and
// checks the signature against its public key.
func signProbe(src secrets.KeySource, v secrets.Value) error {
	signer, err := src.Signer(v)
	if err != nil {
		return err
	}
	digest := make([]byte, 32)
	sig, err := signer.Sign(rand.Reader, digest, crypto.SHA256)
	if err != nil {
		return err
	}
	ok := false
	switch pub := signer.Public().(type) {
	case *rsa.PublicKey:
		ok = rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest, sig) == nil
	case *ecdsa.PublicKey:
		ok = ecdsa.VerifyASN1(pub, digest, sig)
	}
	if !ok {
		return fmt.Errorf("version %s: the vault's signature does not verify with its public key", v.Version)
	}
	return nil
}
