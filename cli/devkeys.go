package cli

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/gatehouse-dev/gatehouse/build"
	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/devkit/idp"
	"github.com/gatehouse-dev/gatehouse/devkit/keyvault"
	devkms "github.com/gatehouse-dev/gatehouse/devkit/kms"
	devsts "github.com/gatehouse-dev/gatehouse/devkit/sts"
)

// devHostRole is the role `gatehouse dev` itself holds towards its local
// KMS and Secrets Manager, as a deployment holds a task role or an
// instance profile: read gatehouse/* secrets, read and sign with KMS keys.
// Its session comes from the local STS in process (devsts.HostSession);
// the trust policy admits only a web-identity token whose subject
// gatehouse never mints, so no caller can assume it.
const devHostRole = "gatehouse-dev-host"

// usesLocalAWS reports whether the file reads secrets or keys from the
// local services of `gatehouse dev`.
func usesLocalAWS(f *config.File) bool {
	dev := func(e string) bool { return e == config.EndpointDev }
	return (dev(f.Secrets.AWS.Endpoint) && f.UsesAWSSecrets()) || (dev(f.Secrets.AWS.KMSEndpoint) && len(f.KeyRefs()) > 0)
}

// devHostRoleConfig is devHostRole in account, trusting issuerURL's tokens
// for a subject gatehouse never mints.
func devHostRoleConfig(account, issuerURL string) devsts.Role {
	host := strings.TrimPrefix(issuerURL, "https://")
	trust := fmt.Sprintf(`{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
  "Principal": {"Federated": "arn:aws:iam::%s:oidc-provider/%s"},
  "Action": "sts:AssumeRoleWithWebIdentity",
  "Condition": {"StringEquals": {"%s:sub": "gatehouse-dev-host: held by gatehouse dev itself"}}}]}`, account, host, host)
	policy := `{"Version": "2012-10-17", "Statement": [
  {"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"], "Resource": "arn:aws:secretsmanager:*:*:secret:gatehouse/*"},
  {"Effect": "Allow", "Action": ["kms:GetPublicKey", "kms:Sign", "kms:DescribeKey"], "Resource": "*"}]}`
	return devsts.Role{Name: devHostRole, TrustPolicy: []byte(trust), Policy: []byte(policy)}
}

// startSecrets reads the file's secret references and vault keys and keeps
// them fresh. References to the local services ("dev" endpoints) are
// reached on the local STS's endpoint as devHostRole; an alias the file
// names that the local KMS lacks is created (RSA 2048), as dev creates its
// other keys on first use.
func (l *devLoop) startSecrets(ctx context.Context, km *devkms.Server, account string) error {
	if len(l.f.SecretRefs()) == 0 && len(l.f.KeyRefs()) == 0 {
		return nil
	}
	f := *l.f // the copy gets the local endpoints; l.f keeps "dev"
	var sc *build.SecretClients
	if usesLocalAWS(&f) {
		if f.Secrets.AWS.Endpoint == config.EndpointDev {
			f.Secrets.AWS.Endpoint = l.ep.STS
		}
		if f.Secrets.AWS.KMSEndpoint == config.EndpointDev {
			f.Secrets.AWS.KMSEndpoint = l.ep.STS
			for _, nr := range f.KeyRefs() {
				if k := nr.Ref.AWSKMS; k != nil && strings.HasPrefix(k.KeyID, "alias/") {
					if _, err := km.PublicKey(k.KeyID); err == nil {
						continue
					}
					if _, err := km.CreateKey("RSA_2048", k.KeyID); err != nil {
						return fmt.Errorf("%s: creating %s in the local KMS: %w", nr.Field, k.KeyID, err)
					}
				}
			}
		}
		f.Secrets.AWS.CAFile = l.ep.CAFile
		arn := "arn:aws:iam::" + account + ":role/" + devHostRole
		sc = &build.SecretClients{AWS: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			s, err := l.stsSrv.HostSession(arn, "gatehouse-dev", time.Hour)
			if err != nil {
				return aws.Credentials{}, fmt.Errorf("the dev host role: %w", err)
			}
			return aws.Credentials{AccessKeyID: s.AccessKeyID, SecretAccessKey: s.SecretAccessKey, SessionToken: s.SessionToken,
				Source: "gatehouse dev host role", CanExpire: true, Expires: s.Expiration}, nil
		})}
	}
	// The local Key Vault: the dev CA, and keys the file names created.
	if f.Secrets.Azure.CAFile == "" {
		f.Secrets.Azure.CAFile = l.ep.CAFile
	}
	for _, nr := range f.KeyRefs() {
		if k := nr.Ref.AzureKeyVault; k != nil && strings.TrimRight(k.Vault, "/") == l.ep.KeyVault && k.Version == "" {
			if l.kv.HasKey(k.Name) {
				continue
			}
			if _, err := l.kv.CreateKey(k.Name, keyvault.KeySpec{Type: "RSA"}); err != nil {
				return fmt.Errorf("%s: creating %s in the local Key Vault: %w", nr.Field, k.Name, err)
			}
		}
	}
	s, err := build.NewSecrets(ctx, &f, l.opts, sc)
	if err != nil {
		return err
	}
	if err := s.Set.Load(ctx); err != nil {
		return errors.Join(errors.New("gatehouse dev cannot read the secrets its configuration references"), err)
	}
	go s.Set.Run(ctx)
	l.opts.Secrets = s
	l.stack.opts.Secrets, l.stack.secrets = s, s
	return nil
}

// keyVaultObjectID is the object id of Azure Key Vault's service principal
// in each development tenant.
const keyVaultObjectID = "e8c1d6f0-1b2a-4c3d-8e9f-0a1b2c3d4e5f"

// withKeyVaultApp adds Azure Key Vault (the resource https://vault.azure.net,
// version 1.0 tokens, as in Entra) to a development tenant's apps, unless
// the configuration registers it itself: the local Key Vault accepts its
// tokens.
func withKeyVaultApp(apps []idp.App) []idp.App {
	if slices.ContainsFunc(apps, func(a idp.App) bool { return strings.EqualFold(a.ClientID, keyvault.AppID) }) {
		return apps
	}
	return append(apps, idp.App{Name: "azure-key-vault", ClientID: keyvault.AppID, ObjectID: keyVaultObjectID,
		AppIDURI: keyvault.Resource, AccessTokenVersion: 1, Scopes: []string{"user_impersonation"}})
}

// startKeyVault starts the local Key Vault of the first development
// tenant, with dev.keyvault's access policies.
func (l *devLoop) startKeyVault(context.Context) error {
	t := l.f.Dev.IDP.Tenants[0]
	var access []keyvault.Access
	for i, a := range l.f.Dev.KeyVault.Access {
		id, err := devPrincipal(t, a.Principal)
		if err != nil {
			return fmt.Errorf("dev.keyvault.access[%d].principal: %w", i, err)
		}
		access = append(access, keyvault.Access{ObjectID: id, Secrets: a.Secrets, Keys: a.Keys})
	}
	ln, url, err := l.st.listen("local Key Vault", l.f.Dev.KeyVault.Listen, true)
	if err != nil {
		return err
	}
	l.kv, err = keyvault.New(keyvault.Config{VaultURL: url, Authority: l.ep.IDP, Tenant: t.ID, HTTPClient: devClient(l.opts.Dev),
		Access: access, StateFile: filepath.Join(l.opts.StateDir, "keyvault.json"), Logger: l.e.log})
	if err != nil {
		return fmt.Errorf("local Key Vault: %w", err)
	}
	l.st.serve(l.kv.Handler(), ln)
	l.ep.KeyVault = url
	return nil
}

// devPrincipal resolves a user (UPN or name), group or app name of t, or
// an object id, to the object id Key Vault's access policies name.
func devPrincipal(t config.Tenant, name string) (string, error) {
	for _, u := range t.Users {
		if strings.EqualFold(u.UPN, name) || u.Name == name || u.ID == name {
			return u.ID, nil
		}
	}
	for _, g := range t.Groups {
		if g.Name == name || g.ID == name {
			return g.ID, nil
		}
	}
	for _, a := range t.Apps {
		if a.Name == name || a.ObjectID == name || a.ClientID == name {
			return a.ObjectID, nil
		}
	}
	return "", fmt.Errorf("%q is no user, group or app of tenant %s", name, t.ID)
}
