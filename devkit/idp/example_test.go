package idp_test

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/gatehouse-dev/gatehouse/devkit/devca"
	"github.com/gatehouse-dev/gatehouse/devkit/idp"
)

// Example serves the IdP over HTTPS with a certificate from the local CA, as
// `gatehouse dev` does: listen first (BaseURL must name the real host and
// port, since MSAL compares the issuer's host with the authority's), then
// New, then serve.
func Example() {
	state, err := os.MkdirTemp("", "gatehouse-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(state)

	ca, err := devca.LoadOrCreate(filepath.Join(state, "ca"))
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	srv, err := idp.New(idp.Config{
		BaseURL: "https://" + ln.Addr().String(),
		KeyDir:  filepath.Join(state, "keys"), // keys survive restarts; idp.RotateKeys rotates them
		Tenants: []idp.Tenant{{
			ID:     "72f988bf-86f1-41af-91ab-2d7cd011db47",
			Domain: "contoso.example",
			Users: []idp.User{{ObjectID: "690222be-ff1a-4d56-abd1-7e4f7d38e474",
				UserPrincipalName: "ada@contoso.example", DisplayName: "Ada Lovelace", Password: "dev-only"}},
			Apps: []idp.App{{Name: "api", ClientID: "6e74172b-be56-4843-9ff4-e66a39bb12e3",
				ObjectID: "c1f3b2a0-2222-4b4b-9e9e-abcdefabcdef", Scopes: []string{"access_as_user"}}},
		}},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	tlsConfig, err := ca.ServerTLSConfig("127.0.0.1", "localhost")
	if err != nil {
		log.Fatal(err)
	}
	hs := &http.Server{Handler: srv.Handler(), TLSConfig: tlsConfig, ReadHeaderTimeout: 10 * time.Second}
	go hs.ServeTLS(ln, "", "")
	defer hs.Close()

	// A client that trusts the CA reads the discovery document by domain.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.CertPool()}}}
	resp, err := client.Get(srv.Issuer("contoso.example") + "/.well-known/openid-configuration")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Issuer string `json:"issuer"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.StatusCode, doc.Issuer == "https://"+ln.Addr().String()+"/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0")
	// Output: 200 true
}
