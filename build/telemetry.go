package build

import (
	"context"
	"fmt"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/telemetry"
)

// Tracing builds the tracing telemetry.tracing configures, for serve, dev
// and a function (lambdaconfig): nil, and no error, when tracing is off.
// The caller shuts it down on exit (Shutdown exports what is queued).
//
// Header values come from their secret references: through o.Secrets when
// the caller keeps the set fresh (each export sends the value in use), else
// read once now. version is service.version.
func Tracing(ctx context.Context, f *config.File, o Options, version string) (*telemetry.Tracing, error) {
	tr := &f.Telemetry.Tracing
	if !tr.Enabled() {
		return nil, nil
	}
	cfg := telemetry.Config{
		Exporter: tr.Exporter, Endpoint: tr.Endpoint, SampleRatio: tr.Ratio(),
		ServiceName: tr.ServiceName, ServiceVersion: version, InstanceID: f.Audit.Replica, Logger: o.Logger,
	}
	if tr.CAFile != "" {
		pool, err := config.LoadCAPool(o.path(tr.CAFile), true)
		if err != nil {
			return nil, fmt.Errorf("telemetry.tracing.ca_file: %w", err)
		}
		cfg.RootCAs = pool
	}
	if len(tr.Headers) > 0 {
		cfg.Headers = map[string]func() (string, error){}
	}
	for _, name := range tr.HeaderNames() {
		field := config.HeaderField(name)
		if sec := o.Secrets.Field(field); sec != nil {
			cfg.Headers[name] = func() (string, error) {
				v, err := sec.Get()
				return string(v.Bytes), err
			}
			continue
		}
		v, err := ReadSecret(ctx, f, o, field)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", field, err)
		}
		value := string(v.Bytes)
		cfg.Headers[name] = func() (string, error) { return value, nil }
	}
	t, err := telemetry.New(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("telemetry.tracing: %w", err)
	}
	return t, nil
}
