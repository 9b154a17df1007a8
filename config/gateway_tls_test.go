package config

import (
	"strings"
	"testing"
)

// refFields is "field ref" for each reference SecretRefs lists.
func refFields(f *File) []string {
	var out []string
	for _, r := range f.SecretRefs() {
		out = append(out, r.Field+" "+r.Ref.String())
	}
	return out
}

// gateway.tls_key is a secret reference; tls_key_file counts as
// tls_key: {file: ...}, and tls_cert_file as a file reference of its own
// (gateway.tls_cert), so both are read again on the secrets schedule.
func TestGatewayTLSKeyReference(t *testing.T) {
	for _, tc := range []struct {
		name, gateway string
		want          []string
		keyField      string
	}{
		{"key and cert files", "  tls_cert_file: tls/fullchain.pem\n  tls_key_file: tls/privkey.pem\n",
			[]string{"gateway.tls_key file:tls/privkey.pem", "gateway.tls_cert file:tls/fullchain.pem"}, "gateway.tls_key_file"},
		{"key file carrying its chain", "  tls_key_file: tls/combined.pem\n",
			[]string{"gateway.tls_key file:tls/combined.pem"}, "gateway.tls_key_file"},
		{"Key Vault bundle", "  tls_key:\n    azure_key_vault: {vault: https://contoso.vault.azure.net, name: gatehouse-tls}\n",
			[]string{"gateway.tls_key azure-keyvault:https://contoso.vault.azure.net/secrets/gatehouse-tls"}, "gateway.tls_key"},
		{"Secrets Manager key, cert file", "  tls_cert_file: tls/fullchain.pem\n  tls_key:\n    aws_secrets_manager: {secret_id: gatehouse/tls, json_key: key}\n",
			[]string{"gateway.tls_key aws-secretsmanager:gatehouse/tls#key", "gateway.tls_cert file:tls/fullchain.pem"}, "gateway.tls_key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Parse("g.yaml", []byte(secretsBase+"gateway:\n"+tc.gateway))
			if err != nil {
				t.Fatal(err)
			}
			if got := refFields(f); strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("SecretRefs:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			if !f.Gateway.TLSEnabled() {
				t.Error("TLSEnabled = false with a key named")
			}
			if got := f.Gateway.TLSKeyField(); got != tc.keyField {
				t.Errorf("TLSKeyField = %s, want %s", got, tc.keyField)
			}
			out, err := f.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			again, err := Parse("printed.yaml", out)
			if err != nil {
				t.Fatalf("printed configuration does not read back: %v\n%s", err, out)
			}
			if got := refFields(again); strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("printed and read back, SecretRefs:\n%s", strings.Join(got, "\n"))
			}
		})
	}
	f, err := Parse("g.yaml", []byte(secretsBase))
	if err != nil {
		t.Fatal(err)
	}
	if f.Gateway.TLSEnabled() || len(f.SecretRefs()) != 0 {
		t.Errorf("no TLS fields: TLSEnabled %v, SecretRefs %v", f.Gateway.TLSEnabled(), refFields(f))
	}
}

// A key written inline or taken from the environment is refused where it
// is written, without repeating it; two names for the key, a certificate
// without a key and a bad reference are refused too.
func TestGatewayTLSKeyRefused(t *testing.T) {
	const pemKey = "-----BEGIN PRIVATE KEY-----MC4CAQAwBQYDK2VwBCIEIBN4y-----END PRIVATE KEY-----"
	for _, tc := range []struct {
		name, gateway, want string
	}{
		{"inline PEM", "  tls_key: \"" + pemKey + "\"\n", "g.yaml:8:12: gateway.tls_key: a secret is never written in the configuration"},
		{"inline block", "  tls_key: |\n    " + pemKey + "\n", "g.yaml:8:12: gateway.tls_key: a secret is never written in the configuration"},
		{"environment", "  tls_key: ${TLS_KEY}\n", "g.yaml:8:12: gateway.tls_key: a secret is never taken from the environment"},
		{"both", "  tls_key_file: k.pem\n  tls_key: {file: k2.pem}\n", "gateway.tls_key: and gateway.tls_key_file both name the TLS key: keep one"},
		{"cert without key", "  tls_cert_file: c.pem\n", "g.yaml:8:3: gateway.tls_cert_file: names a certificate without its key"},
		{"two places", "  tls_key:\n    file: k.pem\n    aws_secrets_manager: {secret_id: gatehouse/tls}\n", "gateway.tls_key: names 2 places"},
		{"bad encoding", "  tls_key: {file: k.pem, encoding: pem}\n", `gateway.tls_key.encoding: "pem": want raw or base64`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("g.yaml", []byte(secretsBase+"gateway:\n"+tc.gateway))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v\nwant %q", err, tc.want)
			}
			for _, leak := range []string{"MC4CAQAwBQYDK2VwBCIEIBN4y", "TLS_KEY"} {
				if strings.Contains(tc.gateway, leak) && strings.Contains(err.Error(), leak) {
					t.Errorf("the problem repeats the value %q: %v", leak, err)
				}
			}
		})
	}
}

// serve without a TLS key listens only on loopback; a key named by
// tls_key alone (its PEM carrying the chain) is TLS.
func TestServeListenNeedsTLSKey(t *testing.T) {
	for _, tc := range []struct {
		name, gateway string
		refused       bool
	}{
		{"plain HTTP on every interface", "  listen: 0.0.0.0:8443\n", true},
		{"plain HTTP on loopback", "  listen: 127.0.0.1:8480\n", false},
		{"default address without TLS", "", true},
		{"key files", "  tls_cert_file: c.pem\n  tls_key_file: k.pem\n", false},
		{"key reference alone", "  listen: 0.0.0.0:8443\n  tls_key:\n    azure_key_vault: {vault: https://contoso.vault.azure.net, name: gatehouse-tls}\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Parse("g.yaml", []byte(secretsBase+"gateway:\n"+tc.gateway))
			if err != nil {
				t.Fatal(err)
			}
			var listen []string
			for _, p := range f.checkFor(WhereServe) {
				if p.Field == "gateway.listen" {
					listen = append(listen, p.Msg)
				}
			}
			if tc.refused != (len(listen) > 0) {
				t.Errorf("gateway.listen problems %q; want refused %v", listen, tc.refused)
			}
			if tc.refused && !strings.Contains(strings.Join(listen, ""), "serve listens only on a loopback address") {
				t.Errorf("the refusal does not say why: %q", listen)
			}
		})
	}
}
