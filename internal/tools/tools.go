//go:build tools

// Package tools pins modules while the packages that use them are written.
package tools

import (
	_ "github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	_ "github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"
	_ "github.com/chromedp/chromedp"
	_ "github.com/coreos/go-oidc/v3/oidc"
	_ "github.com/go-jose/go-jose/v4"
	_ "github.com/go-json-experiment/json"
	_ "github.com/goccy/go-yaml"
	_ "github.com/golang-jwt/jwt/v5"
	_ "github.com/google/go-cmp/cmp"
	_ "github.com/lestrrat-go/jwx/v3/jwt"
	_ "github.com/spf13/cobra"
	_ "golang.org/x/oauth2"
	_ "golang.org/x/oauth2/clientcredentials"
	_ "golang.org/x/sync/singleflight"
)
