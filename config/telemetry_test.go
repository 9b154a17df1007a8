package config

import (
	"strings"
	"testing"
)

func TestTracingDecode(t *testing.T) {
	f, err := Parse("g.yaml", []byte(secretsBase+`telemetry:
  tracing:
    exporter: otlp_http
    endpoint: https://otel-collector.internal:4318
    headers:
      Authorization:
        file: otlp-token.txt
      X-Scope-OrgID:
        aws_secrets_manager: {secret_id: gatehouse/otlp-tenant}
    ca_file: collector-ca.pem
    sample_ratio: 0.01
`))
	if err != nil {
		t.Fatal(err)
	}
	tr := f.Telemetry.Tracing
	if !tr.Enabled() || tr.Ratio() != 0.01 || tr.ServiceName != DefaultServiceName || tr.TrustIncoming {
		t.Errorf("tracing = %+v; want on, ratio 0.01, the default service name, callers not trusted", tr)
	}
	var fields []string
	for _, r := range f.SecretRefs() {
		fields = append(fields, r.Field)
	}
	if got := strings.Join(fields, " "); got != "telemetry.tracing.headers.Authorization telemetry.tracing.headers.X-Scope-OrgID" {
		t.Errorf("SecretRefs: %s", got)
	}
	out, err := f.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"sample_ratio: 0.01\n", "exporter: otlp_http\n", "file: otlp-token.txt\n", "service_name: gatehouse\n"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("Marshal lacks %q:\n%s", want, out)
		}
	}
	back, err := Parse("printed.yaml", out)
	if err != nil || back.Telemetry.Tracing.Ratio() != 0.01 {
		t.Errorf("printed configuration reads back as %v, %v", back, err)
	}
}

func TestTracingDefaults(t *testing.T) {
	f, err := Parse("g.yaml", []byte(secretsBase+"telemetry:\n  tracing:\n    exporter: otlp_grpc\n    endpoint: http://127.0.0.1:4317\n    sample_ratio: 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if r := f.Telemetry.Tracing.Ratio(); r != 1 {
		t.Errorf("ratio %v, want 1", r)
	}
	off, err := Parse("g.yaml", []byte(secretsBase))
	if err != nil {
		t.Fatal(err)
	}
	if off.Telemetry.Tracing.Enabled() || off.Telemetry.Tracing.SampleRatio != nil {
		t.Errorf("no telemetry section: %+v; want tracing off, nothing defaulted", off.Telemetry)
	}
	if out, _ := off.Marshal(); strings.Contains(string(out), "telemetry") {
		t.Errorf("the effective configuration shows an unused telemetry section:\n%s", out)
	}
}

func TestTracingProblems(t *testing.T) {
	for _, tc := range []struct {
		name, tracing string
		want          []string
	}{
		{"off, but configured", "    endpoint: https://c:4318\n    trust_incoming: true\n",
			[]string{"g.yaml:9:5: telemetry.tracing.endpoint: is only used with telemetry.tracing.exporter", "g.yaml:10:5: telemetry.tracing.trust_incoming: is only used"}},
		{"unknown exporter", "    exporter: jaeger\n    endpoint: https://c:4318\n",
			[]string{`g.yaml:9:5: telemetry.tracing.exporter: "jaeger": want otlp_http or otlp_grpc`}},
		{"no endpoint", "    exporter: otlp_http\n", []string{"g.yaml:8:3: telemetry.tracing.endpoint: is required"}},
		{"clear text off loopback", "    exporter: otlp_http\n    endpoint: http://collector.example:4318\n",
			[]string{"g.yaml:10:5: telemetry.tracing.endpoint: http is allowed only for localhost and loopback addresses"}},
		{"grpc path", "    exporter: otlp_grpc\n    endpoint: https://c:4317/v1/traces\n",
			[]string{"g.yaml:10:5: telemetry.tracing.endpoint: \"https://c:4317/v1/traces\": an otlp_grpc endpoint has no path"}},
		{"ca file for http", "    exporter: otlp_http\n    endpoint: http://127.0.0.1:4318\n    ca_file: ca.pem\n",
			[]string{"g.yaml:11:5: telemetry.tracing.ca_file: is only used with an https endpoint"}},
		{"ratio out of range", "    exporter: otlp_http\n    endpoint: https://c:4318\n    sample_ratio: 1.5\n",
			[]string{"g.yaml:11:5: telemetry.tracing.sample_ratio: 1.5: want a fraction from 0 to 1"}},
		{"ratio not a number", "    exporter: otlp_http\n    endpoint: https://c:4318\n    sample_ratio: all\n",
			[]string{"telemetry.tracing.sample_ratio: must be a number, not a string"}},
		{"ratio infinite", "    exporter: otlp_http\n    endpoint: https://c:4318\n    sample_ratio: .inf\n",
			[]string{"telemetry.tracing.sample_ratio: must be a finite number"}},
		{"inline header", "    exporter: otlp_http\n    endpoint: https://c:4318\n    headers:\n      Authorization: Bearer abc123\n",
			[]string{"g.yaml:12:22: telemetry.tracing.headers.Authorization: a secret is never written in the configuration"}},
		{"reserved header", "    exporter: otlp_http\n    endpoint: https://c:4318\n    headers:\n      Content-Type: {file: ct}\n",
			[]string{"g.yaml:12:7: telemetry.tracing.headers.Content-Type: \"Content-Type\" is set by the exporter itself"}},
		{"bad header name", "    exporter: otlp_http\n    endpoint: https://c:4318\n    headers:\n      \"a b\": {file: x}\n",
			[]string{`telemetry.tracing.headers["a b"]: "a b" is not a header name`}},
		{"unknown field", "    exporter: otlp_http\n    endpoint: https://c:4318\n    insecure: true\n",
			[]string{"g.yaml:11:5: telemetry.tracing.insecure: unknown field"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("g.yaml", []byte(secretsBase+"telemetry:\n  tracing:\n"+tc.tracing))
			if err == nil {
				t.Fatal("no problem reported")
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("problems:\n%v\nwant %q", err, want)
				}
			}
			if strings.Contains(err.Error(), "abc123") {
				t.Errorf("a problem repeats the inline secret: %v", err)
			}
		})
	}
}
