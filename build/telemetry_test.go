package build

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/config"
)

// Tracing from the file: off without an exporter; on, its spans go to the
// endpoint with the header read from its reference, the rotated value from
// the next export once the set is refreshed.
func TestTracing(t *testing.T) {
	var mu sync.Mutex
	var auth []string
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		mu.Lock()
		auth = append(auth, r.Header.Get("Authorization"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	t.Cleanup(collector.Close)
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "otlp-token")
	if err := os.WriteFile(tokenFile, []byte("Bearer one\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := "authn:\n  issuers:\n    - {name: corp, type: oidc, issuer: \"https://idp.example\", audiences: [api://x]}\n"
	ctx := context.Background()
	quiet := Options{Dir: dir, Logger: slog.New(slog.DiscardHandler)}

	off, err := config.Parse("g.yaml", []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	if tr, err := Tracing(ctx, off, quiet, "test"); tr != nil || err != nil {
		t.Fatalf("Tracing without an exporter = %v, %v; want nil, nil", tr, err)
	}

	f, err := config.Parse("g.yaml", []byte(base+`telemetry:
  tracing:
    exporter: otlp_http
    endpoint: `+collector.URL+`
    headers:
      Authorization: {file: otlp-token}
`))
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSecrets(ctx, f, quiet, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set.Load(ctx); err != nil {
		t.Fatal(err)
	}
	o := quiet
	o.Secrets = s
	tr, err := Tracing(ctx, f, o, "test")
	if err != nil {
		t.Fatal(err)
	}
	export := func() {
		_, span := tr.TracerProvider().Tracer("test").Start(ctx, "request")
		span.End()
		if err := tr.ForceFlush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	export()
	os.WriteFile(tokenFile, []byte("Bearer two"), 0o600)
	if err := s.Set.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	export()
	tr.Shutdown(ctx)
	mu.Lock()
	defer mu.Unlock()
	if len(auth) != 2 || auth[0] != "Bearer one" || auth[1] != "Bearer two" {
		t.Errorf("exports sent Authorization %q; want the value in use at each", auth)
	}
}
