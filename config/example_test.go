package config_test

import (
	"fmt"

	"github.com/gatehouse-dev/gatehouse/config"
)

func ExampleParse() {
	_, err := config.Parse("gatehouse.yaml", []byte(`authn:
  issuers:
    - name: corp
      type: oidc
      issuer: https://idp.example.com
      audience: [api://corp]
      algorithms: [RS256, none]
`))
	fmt.Println(err)
	// Output:
	// gatehouse.yaml:3:7: authn.issuers[0].audiences: at least one audience is required: the client id or App ID URI of the API tokens must be issued for
	// gatehouse.yaml:6:7: authn.issuers[0].audience: unknown field "audience" (did you mean "audiences"?)
	// gatehouse.yaml:7:27: authn.issuers[0].algorithms[1]: "none" is refused: it accepts unsigned tokens, which anyone can forge
}

func ExampleProblems() {
	_, err := config.Parse("gatehouse.yaml", []byte("authn:\n  max_token_bytes: 10\n"))
	for _, p := range config.Problems(err) {
		fmt.Printf("line %d: %s\n", p.Line, p.Field)
	}
	// Output:
	// line 1: authn.issuers
	// line 2: authn.max_token_bytes
}

func ExampleDefault() {
	f := config.Default()
	for _, u := range f.Dev.IDP.Tenants[0].Users {
		fmt.Println(u.UPN, u.Groups)
	}
	// Output:
	// alice@contoso.example [engineering admins]
	// bob@contoso.example [finance]
	// carol@contoso.example [engineering finance support oncall]
	// dave@contoso.example [support]
}
