package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/gatehouse-dev/gatehouse/build"
	"github.com/gatehouse-dev/gatehouse/config"
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
func devHostRoleConfig(issuerURL string) devsts.Role {
	host := strings.TrimPrefix(issuerURL, "https://")
	trust := fmt.Sprintf(`{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
  "Principal": {"Federated": "arn:aws:iam::%%s:oidc-provider/%s"},
  "Action": "sts:AssumeRoleWithWebIdentity",
  "Condition": {"StringEquals": {"%s:sub": "gatehouse-dev-host: held by gatehouse dev itself"}}}]}`, host, host)
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
