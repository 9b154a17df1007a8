package sts_test

import (
	"fmt"
	"log"
	"net/http/httptest"
	"strings"

	"github.com/gatehouse-dev/gatehouse/devkit/sts"
)

// Example configures the local STS with one trusted issuer and a role that
// only that issuer's tokens for audience sts.amazonaws.com, for subjects of
// the role, may assume, with session tags and a source identity. The IAM
// name of a provider is its URL without "https://" (port and path
// included): it follows "oidc-provider/" in the Federated principal and
// prefixes the condition keys.
func Example() {
	const issuer = "https://127.0.0.1:8443/issuer"
	name := strings.TrimPrefix(issuer, "https://")
	trust := `{
	  "Version": "2012-10-17",
	  "Statement": [{
	    "Effect": "Allow",
	    "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/` + name + `"},
	    "Action": ["sts:AssumeRoleWithWebIdentity", "sts:TagSession", "sts:SetSourceIdentity"],
	    "Condition": {
	      "StringEquals": {"` + name + `:aud": "sts.amazonaws.com"},
	      "StringLike": {"` + name + `:sub": "role:reports-reader:*"}
	    }
	  }]
	}`
	srv, err := sts.New(sts.Config{
		AccountID: "123456789012",
		Providers: []sts.Provider{{URL: issuer, ClientIDs: []string{"sts.amazonaws.com"}}},
		Roles:     []sts.Role{{Name: "gatehouse/reports-reader", TrustPolicy: []byte(trust), Invoke: []string{"reports-*"}}},
	})
	if err != nil {
		log.Fatal(err)
	}
	ts := httptest.NewTLSServer(srv.Handler()) // point the SDK's BaseEndpoint here
	defer ts.Close()

	// A provider name without the port is another provider: refused at New.
	_, err = sts.New(sts.Config{
		AccountID: "123456789012",
		Providers: []sts.Provider{{URL: issuer, ClientIDs: []string{"sts.amazonaws.com"}}},
		Roles: []sts.Role{{Name: "typo", TrustPolicy: []byte(`{"Statement":{"Effect":"Allow",
			"Principal":{"Federated":"arn:aws:iam::123456789012:oidc-provider/127.0.0.1/issuer"},
			"Action":"sts:AssumeRoleWithWebIdentity"}}`)}},
	})
	fmt.Println(err)
	// Output:
	// sts: invalid configuration:
	// Roles[0] typo: MalformedPolicyDocument: statement 1: Principal.Federated "arn:aws:iam::123456789012:oidc-provider/127.0.0.1/issuer" is not an OIDC provider of this STS (configured: arn:aws:iam::123456789012:oidc-provider/127.0.0.1:8443/issuer)
}
