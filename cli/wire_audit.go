package cli

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gatehouse/audit"
	"gatehouse/audit/jsonl"
	"gatehouse/audit/postgres"
	"gatehouse/audit/sqlite"
	"gatehouse/config"
	"gatehouse/internal/privatefile"
)

// auditFiles resolves the audit section's files: configured, else in the
// state directory (dev).
type auditFiles struct {
	db, key, signingKey, spool string
}

func resolveAuditFiles(f *config.File, stateDir string) auditFiles {
	a := f.Audit
	or := func(v, def string) string {
		if v != "" {
			return v
		}
		if stateDir == "" {
			return ""
		}
		return filepath.Join(stateDir, def)
	}
	return auditFiles{db: or(a.Path, "audit.db"), key: or(a.KeyFile, "audit-key"), signingKey: or(a.SigningKeyFile, "audit-signing.pem"), spool: or(a.SpoolDir, "spool")}
}

// openAuditSink opens the configured store. create allows creating the
// SQLite file (the gateway); readers (query, verify) never conjure an empty
// trail from a mistyped path.
func openAuditSink(ctx context.Context, f *config.File, files auditFiles, create bool) (audit.Sink, error) {
	switch f.Audit.Sink {
	case "postgres":
		b, err := os.ReadFile(f.Audit.DSNFile)
		if err != nil {
			return nil, fmt.Errorf("audit.dsn_file: %w", err)
		}
		return postgres.Open(ctx, postgres.Config{DSN: strings.TrimSpace(string(b))})
	case "jsonl":
		if create {
			return jsonl.New(os.Stdout), nil
		}
		return nil, errors.New("the jsonl audit sink writes to standard output: query and verify a captured file with --file")
	default:
		if files.db == "" {
			return nil, errors.New("audit.path is not set")
		}
		if create {
			if err := os.MkdirAll(filepath.Dir(files.db), 0o700); err != nil {
				return nil, err
			}
		}
		return sqlite.Open(ctx, sqlite.Config{Path: files.db, Create: create})
	}
}

// loadPseudonymizer reads the pseudonym key; with create (dev) it is
// generated on first use.
func loadPseudonymizer(path string, create bool) (*audit.Pseudonymizer, error) {
	if path == "" {
		return nil, errors.New("audit.key_file is not set")
	}
	key, _, err := privatefile.Read(path, 4096)
	if errors.Is(err, fs.ErrNotExist) && create {
		key = make([]byte, 32)
		rand.Read(key)
		err = privatefile.Write(path, key)
	}
	if err != nil {
		return nil, fmt.Errorf("audit pseudonym key: %w", err)
	}
	return audit.NewPseudonymizer(key)
}

// loadSigningKey reads the checkpoint signing key (PKCS#8 PEM); with create
// (dev) an Ed25519 key is generated on first use.
func loadSigningKey(path string, create bool) (crypto.Signer, error) {
	if path == "" {
		return nil, errors.New("audit.signing_key_file is not set")
	}
	b, _, err := privatefile.Read(path, 64<<10)
	if errors.Is(err, fs.ErrNotExist) && create {
		_, priv, gerr := ed25519.GenerateKey(rand.Reader)
		if gerr != nil {
			return nil, gerr
		}
		der, merr := x509.MarshalPKCS8PrivateKey(priv)
		if merr != nil {
			return nil, merr
		}
		b = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
		err = privatefile.Write(path, b)
	}
	if err != nil {
		return nil, fmt.Errorf("audit signing key: %w", err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("audit signing key %s: not PEM", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("audit signing key %s: %w", path, err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("audit signing key %s: not a signing key", path)
	}
	return s, nil
}

// buildRecorder opens the trail for a gateway.
func buildRecorder(ctx context.Context, f *config.File, stateDir string, log *slog.Logger) (*audit.Recorder, audit.Sink, *audit.Pseudonymizer, error) {
	files := resolveAuditFiles(f, stateDir)
	create := stateDir != ""
	pseudo, err := loadPseudonymizer(files.key, create)
	if err != nil {
		return nil, nil, nil, err
	}
	signer, err := loadSigningKey(files.signingKey, create)
	if err != nil {
		return nil, nil, nil, err
	}
	sink, err := openAuditSink(ctx, f, files, true)
	if err != nil {
		return nil, nil, nil, err
	}
	replica := f.Audit.Replica
	if replica == "" {
		replica, _ = os.Hostname()
	}
	rec, err := audit.NewRecorder(audit.Config{
		Sink: sink, Mode: audit.Mode(f.Audit.Mode), OnUnavailable: audit.Fallback(f.Audit.OnUnavailable),
		SpoolDir: files.spool, Replica: replica, Signer: signer, Logger: log,
	})
	if err != nil {
		sink.Close()
		return nil, nil, nil, err
	}
	return rec, sink, pseudo, nil
}

// pruneAudit deletes events older than retention every hour, cutting only
// at signed checkpoints so that verify keeps passing on what remains.
func pruneAudit(ctx context.Context, sink audit.Sink, retention time.Duration, signingKey string, log *slog.Logger) {
	var pub crypto.PublicKey
	if k, err := loadSigningKey(signingKey, false); err == nil {
		pub = k.Public()
	}
	tick := time.NewTicker(time.Hour)
	defer tick.Stop()
	for {
		n, err := audit.Prune(ctx, sink, time.Now().Add(-retention), pub)
		if err != nil {
			log.Error("audit: retention failed", "err", err)
		} else if n > 0 {
			log.Info("audit: retention deleted old events", "events", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
