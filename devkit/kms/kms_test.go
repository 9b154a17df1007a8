package kms

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// createKey makes a signing key with the SDK.
func createKey(t testing.TB, c *kms.Client, spec types.KeySpec) *types.KeyMetadata {
	t.Helper()
	out, err := c.CreateKey(testContext(t), &kms.CreateKeyInput{KeySpec: spec, KeyUsage: types.KeyUsageTypeSignVerify, Description: aws.String("test " + string(spec))})
	if err != nil {
		t.Fatalf("CreateKey(%s): %v", spec, err)
	}
	return out.KeyMetadata
}

// verifyLocally checks a KMS signature with the standard library alone,
// against the public key GetPublicKey gave: what a JWT verifier does.
func verifyLocally(pub crypto.PublicKey, alg types.SigningAlgorithmSpec, digest, sig []byte) error {
	var h crypto.Hash
	switch {
	case strings.HasSuffix(string(alg), "_256"):
		h = crypto.SHA256
	case strings.HasSuffix(string(alg), "_384"):
		h = crypto.SHA384
	default:
		h = crypto.SHA512
	}
	switch {
	case strings.HasPrefix(string(alg), "RSASSA_PSS"):
		return rsa.VerifyPSS(pub.(*rsa.PublicKey), h, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	case strings.HasPrefix(string(alg), "RSASSA_PKCS1"):
		return rsa.VerifyPKCS1v15(pub.(*rsa.PublicKey), h, digest, sig)
	default:
		if !ecdsa.VerifyASN1(pub.(*ecdsa.PublicKey), digest, sig) {
			return errors.New("ECDSA signature does not verify")
		}
		return nil
	}
}

func digestOf(alg types.SigningAlgorithmSpec, msg []byte) []byte {
	switch {
	case strings.HasSuffix(string(alg), "_256"):
		d := sha256.Sum256(msg)
		return d[:]
	case strings.HasSuffix(string(alg), "_384"):
		d := sha512.Sum384(msg)
		return d[:]
	}
	d := sha512.Sum512(msg)
	return d[:]
}

// TestSignEachKeySpec: every key spec signs with each of its algorithms,
// RAW and DIGEST; the signature verifies with crypto/x509's parsed public
// key from GetPublicKey (RS256, PS256, ES256… as a JWT library checks
// them) and with Verify; a changed message is KMSInvalidSignatureException.
func TestSignEachKeySpec(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.client(f.creds(t, "admin", ""))
	ctx := testContext(t)
	msg := []byte(`eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhZGEifQ`) // a JWT signing input
	wantAlgs := map[types.KeySpec][]types.SigningAlgorithmSpec{
		types.KeySpecRsa2048:     {"RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512", "RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384", "RSASSA_PKCS1_V1_5_SHA_512"},
		types.KeySpecRsa3072:     {"RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512", "RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384", "RSASSA_PKCS1_V1_5_SHA_512"},
		types.KeySpecRsa4096:     {"RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512", "RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384", "RSASSA_PKCS1_V1_5_SHA_512"},
		types.KeySpecEccNistP256: {"ECDSA_SHA_256"},
		types.KeySpecEccNistP384: {"ECDSA_SHA_384"},
		types.KeySpecEccNistP521: {"ECDSA_SHA_512"},
	}
	for _, spec := range []types.KeySpec{types.KeySpecRsa2048, types.KeySpecRsa3072, types.KeySpecRsa4096, types.KeySpecEccNistP256, types.KeySpecEccNistP384, types.KeySpecEccNistP521} {
		t.Run(string(spec), func(t *testing.T) {
			md := createKey(t, c, spec)
			if md.KeySpec != spec || md.KeyUsage != types.KeyUsageTypeSignVerify || md.KeyState != types.KeyStateEnabled || !md.Enabled ||
				aws.ToString(md.Arn) != keyPrefix+aws.ToString(md.KeyId) || md.Origin != types.OriginTypeAwsKms || aws.ToString(md.AWSAccountId) != testAccount {
				t.Errorf("KeyMetadata = %+v", md)
			}
			pk, err := c.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: md.KeyId})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(pk.SigningAlgorithms, wantAlgs[spec]) || pk.KeySpec != spec || aws.ToString(pk.KeyId) != aws.ToString(md.Arn) {
				t.Errorf("GetPublicKey = %v %s %s", pk.SigningAlgorithms, pk.KeySpec, aws.ToString(pk.KeyId))
			}
			pub, err := x509.ParsePKIXPublicKey(pk.PublicKey)
			if err != nil {
				t.Fatalf("ParsePKIXPublicKey: %v", err)
			}
			for _, alg := range pk.SigningAlgorithms {
				for _, mt := range []types.MessageType{types.MessageTypeRaw, types.MessageTypeDigest} {
					in := msg
					if mt == types.MessageTypeDigest {
						in = digestOf(alg, msg)
					}
					out, err := c.Sign(ctx, &kms.SignInput{KeyId: md.KeyId, Message: in, MessageType: mt, SigningAlgorithm: alg})
					if err != nil {
						t.Fatalf("Sign(%s, %s): %v", alg, mt, err)
					}
					if out.SigningAlgorithm != alg || aws.ToString(out.KeyId) != aws.ToString(md.Arn) {
						t.Errorf("Sign = %s %s", out.SigningAlgorithm, aws.ToString(out.KeyId))
					}
					if err := verifyLocally(pub, alg, digestOf(alg, msg), out.Signature); err != nil {
						t.Errorf("%s %s: the signature does not verify with the public key: %v", alg, mt, err)
					}
					v, err := c.Verify(ctx, &kms.VerifyInput{KeyId: md.KeyId, Message: msg, Signature: out.Signature, SigningAlgorithm: alg})
					if err != nil || !v.SignatureValid {
						t.Errorf("Verify(%s) = %+v, %v", alg, v, err)
					}
					_, err = c.Verify(ctx, &kms.VerifyInput{KeyId: md.KeyId, Message: append([]byte("x"), msg...), Signature: out.Signature, SigningAlgorithm: alg})
					var bad *types.KMSInvalidSignatureException
					if !errors.As(err, &bad) {
						t.Errorf("Verify(changed message) = %v, want KMSInvalidSignatureException", err)
					}
				}
			}
		})
	}
	t.Run("refusals", func(t *testing.T) {
		ec := createKey(t, c, types.KeySpecEccNistP256)
		_, err := c.Sign(ctx, &kms.SignInput{KeyId: ec.KeyId, Message: msg, SigningAlgorithm: types.SigningAlgorithmSpecRsassaPssSha256})
		wantAPIError(t, err, "InvalidKeyUsageException")
		_, err = c.Sign(ctx, &kms.SignInput{KeyId: ec.KeyId, Message: msg[:31], MessageType: types.MessageTypeDigest, SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
		wantAPIError(t, err, "ValidationException")
		_, err = c.Sign(ctx, &kms.SignInput{KeyId: ec.KeyId, Message: make([]byte, 4097), SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
		wantAPIError(t, err, "ValidationException")
		if _, err := c.Sign(ctx, &kms.SignInput{KeyId: ec.KeyId, Message: make([]byte, 4096), SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256}); err != nil {
			t.Errorf("Sign of 4096 bytes: %v", err)
		}
		_, err = c.Sign(ctx, &kms.SignInput{KeyId: ec.KeyId, Message: msg, SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256, DryRun: aws.Bool(true)})
		wantAPIError(t, err, "DryRunOperationException")
		for _, id := range []string{"1234abcd-12ab-34cd-56ef-1234567890ab", keyPrefix + "1234abcd-12ab-34cd-56ef-1234567890ab", "alias/none",
			"arn:aws:kms:us-east-1:123456789012:alias/none", "not-a-key", "arn:aws:kms:eu-west-1:123456789012:key/" + aws.ToString(ec.KeyId)} {
			_, err := c.Sign(ctx, &kms.SignInput{KeyId: aws.String(id), Message: msg, SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
			var nf *types.NotFoundException
			if !errors.As(err, &nf) {
				t.Errorf("Sign(%s) = %v, want NotFoundException", id, err)
			}
		}
		_, err = c.CreateKey(ctx, &kms.CreateKeyInput{})
		if msg := wantAPIError(t, err, "UnsupportedOperationException"); !strings.Contains(msg, "signing keys only") {
			t.Errorf("message %q", msg)
		}
		_, err = c.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: types.KeySpecRsa2048})
		wantAPIError(t, err, "UnsupportedOperationException")
		_, err = c.Encrypt(ctx, &kms.EncryptInput{KeyId: ec.KeyId, Plaintext: []byte("x")})
		wantAPIError(t, err, "UnknownOperationException")
	})
}

// TestAliasRotation: signing through an alias, then rotating as one rotates
// an asymmetric key (a new key and UpdateAlias): the alias signs with the
// new key while the old key still verifies what it signed.
func TestAliasRotation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.client(f.creds(t, "admin", ""))
	ctx := testContext(t)
	msg := []byte("header.payload")
	first := createKey(t, c, types.KeySpecRsa2048)
	if _, err := c.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/gatehouse/signing"), TargetKeyId: first.KeyId}); err != nil {
		t.Fatal(err)
	}
	sign := func(id string) *kms.SignOutput {
		t.Helper()
		out, err := c.Sign(ctx, &kms.SignInput{KeyId: aws.String(id), Message: msg, SigningAlgorithm: types.SigningAlgorithmSpecRsassaPkcs1V15Sha256})
		if err != nil {
			t.Fatalf("Sign(%s): %v", id, err)
		}
		return out
	}
	old := sign("alias/gatehouse/signing")
	for _, id := range []string{"arn:aws:kms:us-east-1:123456789012:alias/gatehouse/signing", aws.ToString(first.Arn), aws.ToString(first.KeyId)} {
		if out := sign(id); aws.ToString(out.KeyId) != aws.ToString(first.Arn) {
			t.Errorf("Sign(%s) used %s", id, aws.ToString(out.KeyId))
		}
	}

	second := createKey(t, c, types.KeySpecRsa2048)
	if _, err := c.UpdateAlias(ctx, &kms.UpdateAliasInput{AliasName: aws.String("alias/gatehouse/signing"), TargetKeyId: second.Arn}); err != nil {
		t.Fatal(err)
	}
	if out := sign("alias/gatehouse/signing"); aws.ToString(out.KeyId) != aws.ToString(second.Arn) {
		t.Errorf("after UpdateAlias the alias signs with %s, want the new key", aws.ToString(out.KeyId))
	}
	if v, err := c.Verify(ctx, &kms.VerifyInput{KeyId: first.KeyId, Message: msg, Signature: old.Signature, SigningAlgorithm: old.SigningAlgorithm}); err != nil || !v.SignatureValid {
		t.Errorf("the old key no longer verifies its signature: %v", err)
	}
	_, err := c.Verify(ctx, &kms.VerifyInput{KeyId: aws.String("alias/gatehouse/signing"), Message: msg, Signature: old.Signature, SigningAlgorithm: old.SigningAlgorithm})
	wantAPIError(t, err, "KMSInvalidSignatureException")

	// RotateKey does the same without the wire.
	third, err := f.srv.RotateKey("gatehouse/signing")
	if err != nil {
		t.Fatal(err)
	}
	list, err := c.ListAliases(ctx, &kms.ListAliasesInput{})
	if err != nil || len(list.Aliases) != 1 || aws.ToString(list.Aliases[0].TargetKeyId) != third ||
		aws.ToString(list.Aliases[0].AliasArn) != "arn:aws:kms:us-east-1:123456789012:alias/gatehouse/signing" {
		t.Fatalf("ListAliases = %+v, %v; want the alias on %s", list, err, third)
	}
	byKey, err := c.ListAliases(ctx, &kms.ListAliasesInput{KeyId: first.KeyId})
	if err != nil || len(byKey.Aliases) != 0 {
		t.Errorf("ListAliases(first key) = %+v, %v; want none", byKey, err)
	}

	_, err = c.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/gatehouse/signing"), TargetKeyId: first.KeyId})
	wantAPIError(t, err, "AlreadyExistsException")
	_, err = c.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/aws/mine"), TargetKeyId: first.KeyId})
	wantAPIError(t, err, "InvalidAliasNameException")
	_, err = c.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/other"), TargetKeyId: aws.String("alias/gatehouse/signing")})
	wantAPIError(t, err, "ValidationException")
	_, err = c.UpdateAlias(ctx, &kms.UpdateAliasInput{AliasName: aws.String("alias/none"), TargetKeyId: first.KeyId})
	wantAPIError(t, err, "NotFoundException")
	for i := range 3 {
		if _, err := c.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/page-" + string(rune('a'+i))), TargetKeyId: first.KeyId}); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	p := kms.NewListAliasesPaginator(c, &kms.ListAliasesInput{Limit: aws.Int32(2)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range page.Aliases {
			names = append(names, aws.ToString(a.AliasName))
		}
	}
	if want := []string{"alias/gatehouse/signing", "alias/page-a", "alias/page-b", "alias/page-c"}; !slices.Equal(names, want) {
		t.Errorf("ListAliases pages = %v, want %v", names, want)
	}
	if _, err := c.DeleteAlias(ctx, &kms.DeleteAliasInput{AliasName: aws.String("alias/gatehouse/signing")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.Sign(ctx, &kms.SignInput{KeyId: aws.String("alias/gatehouse/signing"), Message: msg, SigningAlgorithm: types.SigningAlgorithmSpecRsassaPkcs1V15Sha256})
	wantAPIError(t, err, "NotFoundException")
}

// TestKeyStates: a disabled key refuses Sign (DisabledException, as KMS
// answers); a key pending deletion refuses it with
// KMSInvalidStateException, comes back Disabled when the deletion is
// cancelled, and is gone with its aliases once the window passes.
func TestKeyStates(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.client(f.creds(t, "admin", ""))
	ctx := testContext(t)
	md := createKey(t, c, types.KeySpecEccNistP256)
	if _, err := c.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/k"), TargetKeyId: md.KeyId}); err != nil {
		t.Fatal(err)
	}
	sign := func() error {
		_, err := c.Sign(ctx, &kms.SignInput{KeyId: aws.String("alias/k"), Message: []byte("m"), SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
		return err
	}
	if _, err := c.DisableKey(ctx, &kms.DisableKeyInput{KeyId: md.KeyId}); err != nil {
		t.Fatal(err)
	}
	var disabled *types.DisabledException
	if err := sign(); !errors.As(err, &disabled) || disabled.ErrorMessage() != aws.ToString(md.Arn)+" is disabled." {
		t.Fatalf("Sign with a disabled key = %v, want DisabledException", err)
	}
	_, err := c.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: md.KeyId})
	wantAPIError(t, err, "DisabledException")
	d, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: md.KeyId})
	if err != nil || d.KeyMetadata.KeyState != types.KeyStateDisabled || d.KeyMetadata.Enabled {
		t.Fatalf("DescribeKey = %+v, %v", d, err)
	}
	if _, err := c.EnableKey(ctx, &kms.EnableKeyInput{KeyId: md.KeyId}); err != nil {
		t.Fatal(err)
	}
	if err := sign(); err != nil {
		t.Fatalf("Sign after EnableKey: %v", err)
	}

	sched, err := c.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: aws.String("alias/k"), PendingWindowInDays: aws.Int32(7)})
	if err != nil || sched.KeyState != types.KeyStatePendingDeletion || aws.ToInt32(sched.PendingWindowInDays) != 7 ||
		!aws.ToTime(sched.DeletionDate).Equal(f.clock.Now().Add(7*24*time.Hour)) {
		t.Fatalf("ScheduleKeyDeletion = %+v, %v", sched, err)
	}
	var invalid *types.KMSInvalidStateException
	if err := sign(); !errors.As(err, &invalid) || !strings.Contains(invalid.ErrorMessage(), "pending deletion") {
		t.Fatalf("Sign with a key pending deletion = %v, want KMSInvalidStateException", err)
	}
	_, err = c.EnableKey(ctx, &kms.EnableKeyInput{KeyId: md.KeyId})
	wantAPIError(t, err, "KMSInvalidStateException")
	_, err = c.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: md.KeyId})
	wantAPIError(t, err, "KMSInvalidStateException")
	if _, err := c.CancelKeyDeletion(ctx, &kms.CancelKeyDeletionInput{KeyId: md.KeyId}); err != nil {
		t.Fatal(err)
	}
	_, err = c.CancelKeyDeletion(ctx, &kms.CancelKeyDeletionInput{KeyId: md.KeyId})
	wantAPIError(t, err, "KMSInvalidStateException")
	if err := sign(); !errors.As(err, &disabled) {
		t.Fatalf("Sign after CancelKeyDeletion = %v, want DisabledException (the key comes back disabled)", err)
	}
	if _, err := c.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: md.KeyId}); err != nil {
		t.Fatal(err)
	}
	f.clock.Add(30*24*time.Hour + time.Second)
	_, err = c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: md.KeyId})
	wantAPIError(t, err, "NotFoundException")
	if err := sign(); !errors.As(err, new(*types.NotFoundException)) {
		t.Errorf("the alias outlived its key: %v", err)
	}
}

// TestAccessDenied: the role's identity policy and the session policy
// decide, in AWS's words.
func TestAccessDenied(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := testContext(t)
	a, err := f.srv.CreateKey("ECC_NIST_P256", "a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.srv.CreateKey("ECC_NIST_P256", "alias/b")
	if err != nil {
		t.Fatal(err)
	}
	signer := f.client(f.creds(t, "signer", ""))
	in := func(id string) *kms.SignInput {
		return &kms.SignInput{KeyId: aws.String(id), Message: []byte("m"), SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256}
	}
	if _, err := signer.Sign(ctx, in("alias/a")); err != nil {
		t.Fatalf("signer Sign: %v", err)
	}
	const user = "arn:aws:sts::123456789012:assumed-role/signer/ada"
	_, err = signer.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: aws.String(a)})
	if msg := wantAPIError(t, err, "AccessDeniedException"); msg != "User: "+user+" is not authorized to perform: kms:ScheduleKeyDeletion on resource: "+keyPrefix+a+
		" because no identity-based policy allows the kms:ScheduleKeyDeletion action" {
		t.Errorf("message %q", msg)
	}
	_, err = signer.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: types.KeySpecEccNistP256, KeyUsage: types.KeyUsageTypeSignVerify})
	if msg := wantAPIError(t, err, "AccessDeniedException"); !strings.HasSuffix(msg, "kms:CreateKey on resource: * because no identity-based policy allows the kms:CreateKey action") {
		t.Errorf("message %q", msg)
	}
	_, err = signer.UpdateAlias(ctx, &kms.UpdateAliasInput{AliasName: aws.String("alias/a"), TargetKeyId: aws.String(b)})
	wantAPIError(t, err, "AccessDeniedException")

	narrowed := f.client(f.creds(t, "signer", `{"Statement":{"Effect":"Allow","Action":"kms:Sign","Resource":"`+keyPrefix+a+`"}}`))
	if _, err := narrowed.Sign(ctx, in("alias/a")); err != nil {
		t.Errorf("narrowed session on its key: %v", err)
	}
	_, err = narrowed.Sign(ctx, in("alias/b"))
	if msg := wantAPIError(t, err, "AccessDeniedException"); msg != "User: "+user+" is not authorized to perform: kms:Sign on resource: "+keyPrefix+b+
		" because no session policy allows the kms:Sign action" {
		t.Errorf("message %q", msg)
	}
	_, err = f.client(f.creds(t, "nothing", "")).DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(a)})
	wantAPIError(t, err, "AccessDeniedException")
}

// TestAuthentication: wrong signatures, unknown keys and expired sessions
// are refused with the codes AWS JSON services use.
func TestAuthentication(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := testContext(t)
	good := f.creds(t, "admin", "")
	in := &kms.ListAliasesInput{}
	wrong := good
	wrong.SecretAccessKey += "x"
	_, err := f.client(wrong).ListAliases(ctx, in)
	wantAPIError(t, err, "InvalidSignatureException")
	unknown := good
	unknown.AccessKeyID = "ASIAUNKNOWNKEY000000"
	_, err = f.client(unknown).ListAliases(ctx, in)
	wantAPIError(t, err, "UnrecognizedClientException")
	if _, err := f.client(good).ListAliases(ctx, in); err != nil {
		t.Fatal(err)
	}
	f.stsClock.Add(2 * time.Hour)
	_, err = f.client(good).ListAliases(ctx, in)
	wantAPIError(t, err, "ExpiredTokenException")
}

// TestStateFile: keys and aliases survive a restart; CreateKey with an
// alias that already names a key of the spec returns it; signatures made
// before the restart verify after it.
func TestStateFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "kms.json")
	f := newFixture(t, func(c *Config) { c.StateFile = path })
	id, err := f.srv.CreateKey("RSA_2048", "alias/gatehouse")
	if err != nil {
		t.Fatal(err)
	}
	if again, err := f.srv.CreateKey("RSA_2048", "gatehouse"); err != nil || again != id {
		t.Fatalf("CreateKey again = %s, %v; want %s", again, err, id)
	}
	pub, err := f.srv.PublicKey("alias/gatehouse")
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v, %v; want mode 0600", fi, err)
	}

	g := newFixture(t, func(c *Config) { c.StateFile = path })
	if again, err := g.srv.CreateKey("RSA_2048", "gatehouse"); err != nil || again != id {
		t.Fatalf("CreateKey after restart = %s, %v; want %s", again, err, id)
	}
	c := g.client(g.creds(t, "admin", ""))
	msg := []byte("after restart")
	out, err := c.Sign(testContext(t), &kms.SignInput{KeyId: aws.String("alias/gatehouse"), Message: msg, SigningAlgorithm: types.SigningAlgorithmSpecRsassaPssSha256})
	if err != nil {
		t.Fatal(err)
	}
	if err := verifyLocally(pub, out.SigningAlgorithm, digestOf(out.SigningAlgorithm, msg), out.Signature); err != nil {
		t.Errorf("a signature after the restart does not verify with the key from before: %v", err)
	}
	if other, err := g.srv.CreateKey("ECC_NIST_P256", "gatehouse"); err != nil || other == id {
		t.Errorf("CreateKey of another spec on the alias = %s, %v; want a new key", other, err)
	}
	if _, err := New(Config{StateFile: filepath.Join(t.TempDir(), "x.json"), Region: "nope"}); err == nil {
		t.Error("New accepted a bad region")
	}
	if err := os.WriteFile(path, []byte(`{"version":1,"keys":[{"id":"x"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{StateFile: path}); err == nil {
		t.Error("New accepted a broken state file")
	}
	if _, err := f.srv.CreateKey("RSA_1024", ""); err == nil {
		t.Error("CreateKey accepted RSA_1024")
	}
}
