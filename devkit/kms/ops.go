package kms

import (
	"crypto/x509"
	"encoding/base64"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/devkit/internal/awsjson"
)

type keyMetadata struct {
	AWSAccountID                string        `json:"AWSAccountId"`
	KeyID                       string        `json:"KeyId"`
	Arn                         string        `json:"Arn"`
	CreationDate                awsjson.Epoch `json:"CreationDate"`
	Enabled                     bool          `json:"Enabled"`
	Description                 string        `json:"Description"`
	KeyUsage                    string        `json:"KeyUsage"`
	KeyState                    string        `json:"KeyState"`
	DeletionDate                awsjson.Epoch `json:"DeletionDate,omitzero"`
	PendingDeletionWindowInDays int           `json:"PendingDeletionWindowInDays,omitzero"`
	Origin                      string        `json:"Origin"`
	KeyManager                  string        `json:"KeyManager"`
	CustomerMasterKeySpec       string        `json:"CustomerMasterKeySpec"`
	KeySpec                     string        `json:"KeySpec"`
	SigningAlgorithms           []string      `json:"SigningAlgorithms"`
	MultiRegion                 bool          `json:"MultiRegion"`
}

func (s *Server) metadata(k *key) keyMetadata {
	return keyMetadata{
		AWSAccountID: s.account, KeyID: k.ID, Arn: s.keyARN(k.ID), CreationDate: awsjson.EpochOf(k.Created),
		Enabled: k.State == stateEnabled, Description: k.Description, KeyUsage: k.Usage, KeyState: k.State,
		DeletionDate: awsjson.EpochOf(k.DeletionDate), PendingDeletionWindowInDays: k.PendingDays,
		Origin: "AWS_KMS", KeyManager: "CUSTOMER", CustomerMasterKeySpec: k.Spec, KeySpec: k.Spec,
		SigningAlgorithms: slices.Clone(keySpecs[k.Spec].algorithms),
	}
}

type metadataOutput struct {
	KeyMetadata keyMetadata
}

type createKeyInput struct {
	Policy                         *string
	Description                    *string
	KeyUsage                       *string
	CustomerMasterKeySpec          *string
	KeySpec                        *string
	Origin                         *string
	CustomKeyStoreID               *string `json:"CustomKeyStoreId"`
	BypassPolicyLockoutSafetyCheck bool
	Tags                           []tag
	MultiRegion                    *bool
	XksKeyID                       *string `json:"XksKeyId"`
}

func (s *Server) createKey(r *awsjson.Request) (any, error) {
	var in createKeyInput
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	switch {
	case in.Policy != nil:
		return nil, errorf(codeUnsupported, "The local KMS does not evaluate key policies; leave Policy out (IAM policies of the caller's role decide).")
	case in.Origin != nil && *in.Origin != "AWS_KMS":
		return nil, errorf(codeUnsupported, "The local KMS makes key material itself: Origin must be AWS_KMS.")
	case in.CustomKeyStoreID != nil || in.XksKeyID != nil:
		return nil, errorf(codeUnsupported, "The local KMS has no custom key stores.")
	case in.MultiRegion != nil && *in.MultiRegion:
		return nil, errorf(codeUnsupported, "The local KMS has no multi-Region keys.")
	case in.KeySpec != nil && in.CustomerMasterKeySpec != nil:
		return nil, validation("keySpec", "You cannot specify KeySpec and CustomerMasterKeySpec in the same request.")
	}
	spec := "SYMMETRIC_DEFAULT"
	if in.KeySpec != nil {
		spec = *in.KeySpec
	} else if in.CustomerMasterKeySpec != nil {
		spec = *in.CustomerMasterKeySpec
	}
	usage := ""
	if in.KeyUsage != nil {
		usage = *in.KeyUsage
	}
	if _, ok := keySpecs[spec]; !ok {
		return nil, errorf(codeUnsupported, "The local KMS makes signing keys only: KeySpec must be one of %s (got %s).", strings.Join(specNames(), ", "), awsjson.Echo(spec, 64))
	}
	if usage != "SIGN_VERIFY" {
		return nil, errorf(codeUnsupported, "The local KMS makes signing keys only: KeyUsage must be SIGN_VERIFY for %s (got %q).", spec, awsjson.Echo(usage, 64))
	}
	if in.Description != nil && utf8.RuneCountInString(*in.Description) > 8192 {
		return nil, validation("description", "Member must have length less than or equal to 8192")
	}
	if len(in.Tags) > 50 {
		return nil, errorf("TagException", "A key may have at most 50 tags.")
	}
	if err := r.Authorize("kms:CreateKey", "*"); err != nil {
		return nil, err
	}
	if len(in.Tags) > 0 {
		if err := r.Authorize("kms:TagResource", "*"); err != nil {
			return nil, err
		}
	}
	desc := ""
	if in.Description != nil {
		desc = *in.Description
	}
	// Generated outside the lock: an RSA 4096 key takes a while.
	k, err := s.newKey(spec, desc, in.Tags, s.now())
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[k.ID] = k
	if err := s.save(); err != nil {
		return nil, err
	}
	return metadataOutput{s.metadata(k)}, nil
}

type keyIDInput struct {
	KeyID       string   `json:"KeyId"`
	GrantTokens []string `json:"GrantTokens"`
}

func checkGrants(tokens []string) error {
	if len(tokens) > 0 {
		return errorf(codeInvalidGrant, "The local KMS has no grants; leave GrantTokens out.")
	}
	return nil
}

func (s *Server) describeKey(r *awsjson.Request) (any, error) {
	var in keyIDInput
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	if err := checkGrants(in.GrantTokens); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k, err := s.lookup(r, "kms:DescribeKey", in.KeyID)
	if err != nil {
		return nil, err
	}
	return metadataOutput{s.metadata(k)}, nil
}

type publicKeyOutput struct {
	KeyID                 string `json:"KeyId"`
	PublicKey             []byte
	CustomerMasterKeySpec string
	KeySpec               string
	KeyUsage              string
	SigningAlgorithms     []string
}

func (s *Server) getPublicKey(r *awsjson.Request) (any, error) {
	var in keyIDInput
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	if err := checkGrants(in.GrantTokens); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k, err := s.lookup(r, "kms:GetPublicKey", in.KeyID)
	if err != nil {
		return nil, err
	}
	if err := s.usable(k); err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(k.signer.Public())
	if err != nil {
		return nil, err
	}
	return publicKeyOutput{KeyID: s.keyARN(k.ID), PublicKey: der, CustomerMasterKeySpec: k.Spec, KeySpec: k.Spec,
		KeyUsage: k.Usage, SigningAlgorithms: slices.Clone(keySpecs[k.Spec].algorithms)}, nil
}

type signInput struct {
	KeyID            string `json:"KeyId"`
	Message          []byte
	MessageType      *string
	SigningAlgorithm string
	Signature        []byte // Verify only
	GrantTokens      []string
	DryRun           bool
}

// signingRequest checks a Sign or Verify request and finds its key and
// digest. Callers hold mu until the key is found; signing itself runs
// outside it.
func (s *Server) signingRequest(r *awsjson.Request, action string, in *signInput) (*key, algorithm, []byte, error) {
	var zero algorithm
	if len(in.Message) == 0 || len(in.Message) > maxMessageBytes {
		return nil, zero, nil, validation("message", "Member must have length between 1 and 4096")
	}
	raw := true
	if in.MessageType != nil {
		switch *in.MessageType {
		case "RAW":
		case "DIGEST":
			raw = false
		case "EXTERNAL_MU":
			return nil, zero, nil, errorf(codeInvalidKeyUsage, "EXTERNAL_MU is for ML-DSA keys; the local KMS has none.")
		default:
			return nil, zero, nil, validation("messageType", "Member must satisfy enum value set: [RAW, DIGEST, EXTERNAL_MU]")
		}
	}
	alg, ok := algorithms[in.SigningAlgorithm]
	if !ok {
		return nil, zero, nil, validation("signingAlgorithm", "Member must satisfy enum value set: [RSASSA_PSS_SHA_256, RSASSA_PSS_SHA_384, RSASSA_PSS_SHA_512, RSASSA_PKCS1_V1_5_SHA_256, RSASSA_PKCS1_V1_5_SHA_384, RSASSA_PKCS1_V1_5_SHA_512, ECDSA_SHA_256, ECDSA_SHA_384, ECDSA_SHA_512]")
	}
	if err := checkGrants(in.GrantTokens); err != nil {
		return nil, zero, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k, err := s.lookup(r, action, in.KeyID)
	if err != nil {
		return nil, zero, nil, err
	}
	if err := s.usable(k); err != nil {
		return nil, zero, nil, err
	}
	if k.Usage != "SIGN_VERIFY" {
		return nil, zero, nil, errorf(codeInvalidKeyUsage, "%s key usage is %s which is not valid for %s.", s.keyARN(k.ID), k.Usage, r.Operation)
	}
	if !slices.Contains(keySpecs[k.Spec].algorithms, in.SigningAlgorithm) {
		return nil, zero, nil, errorf(codeInvalidKeyUsage, "Algorithm %s is incompatible with key spec %s.", in.SigningAlgorithm, k.Spec)
	}
	d, ok := digest(alg, in.Message, raw)
	if !ok {
		return nil, zero, nil, errorf(awsjson.CodeValidation, "Digest is invalid length for algorithm %s.", in.SigningAlgorithm)
	}
	if in.DryRun {
		return nil, zero, nil, errorf(codeDryRun, "The request would have succeeded, but the DryRun option is set.")
	}
	return k, alg, d, nil
}

type signOutput struct {
	KeyID            string `json:"KeyId"`
	Signature        []byte
	SigningAlgorithm string
}

func (s *Server) sign(r *awsjson.Request) (any, error) {
	var in signInput
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	if in.Signature != nil {
		return nil, errorf(awsjson.CodeSerialization, "Sign has no Signature member.")
	}
	k, alg, d, err := s.signingRequest(r, "kms:Sign", &in)
	if err != nil {
		return nil, err
	}
	sig, err := sign(k.signer, alg, d)
	if err != nil {
		return nil, err
	}
	return signOutput{KeyID: s.keyARN(k.ID), Signature: sig, SigningAlgorithm: in.SigningAlgorithm}, nil
}

type verifyOutput struct {
	KeyID            string `json:"KeyId"`
	SignatureValid   bool
	SigningAlgorithm string
}

func (s *Server) verify(r *awsjson.Request) (any, error) {
	var in signInput
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	if len(in.Signature) == 0 || len(in.Signature) > 6144 {
		return nil, validation("signature", "Member must have length between 1 and 6144")
	}
	k, alg, d, err := s.signingRequest(r, "kms:Verify", &in)
	if err != nil {
		return nil, err
	}
	if !verify(k.signer.Public(), alg, d, in.Signature) {
		return nil, errorf(codeInvalidSignature, "")
	}
	return verifyOutput{KeyID: s.keyARN(k.ID), SignatureValid: true, SigningAlgorithm: in.SigningAlgorithm}, nil
}

type aliasInput struct {
	AliasName   string
	TargetKeyID *string `json:"TargetKeyId"`
}

// checkAliasName applies KMS's rules for alias names a caller may manage.
func checkAliasName(name string) error {
	if name == "" || len(name) > 256 {
		return validation("aliasName", "Member must have length between 1 and 256")
	}
	if !aliasPattern.MatchString(name) {
		return validation("aliasName", "Member must satisfy regular expression pattern: ^alias/[a-zA-Z0-9/_-]+$")
	}
	if strings.HasPrefix(name, "alias/aws/") {
		return errorf(codeInvalidAlias, "Alias must not begin with 'alias/aws/'.")
	}
	return nil
}

// targetKey resolves an alias's target, which must be a key id or key ARN,
// and authorizes action on it.
func (s *Server) targetKey(r *awsjson.Request, action string, target *string) (*key, error) {
	if target == nil {
		return nil, validation("targetKeyId", "Member must not be null")
	}
	if strings.HasPrefix(*target, "alias/") || strings.Contains(*target, ":alias/") {
		return nil, errorf(awsjson.CodeValidation, "TargetKeyId must be a key ID or key ARN, not an alias.")
	}
	k, err := s.lookup(r, action, *target)
	if err != nil {
		return nil, err
	}
	if k.State == statePendingDeletion {
		return nil, errorf(codeInvalidState, "%s is pending deletion.", s.keyARN(k.ID))
	}
	return k, nil
}

func (s *Server) createAlias(r *awsjson.Request) (any, error) {
	var in aliasInput
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	if err := checkAliasName(in.AliasName); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.purge(now)
	if err := r.Authorize("kms:CreateAlias", s.aliasARN(in.AliasName)); err != nil {
		return nil, err
	}
	k, err := s.targetKey(r, "kms:CreateAlias", in.TargetKeyID)
	if err != nil {
		return nil, err
	}
	if s.aliases[in.AliasName] != nil {
		return nil, errorf(codeAlreadyExists, "An alias with the name %s already exists", s.aliasARN(in.AliasName))
	}
	s.setAlias(in.AliasName, k.ID, now)
	return struct{}{}, s.save()
}

func (s *Server) updateAlias(r *awsjson.Request) (any, error) {
	var in aliasInput
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	if err := checkAliasName(in.AliasName); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.purge(now)
	if err := r.Authorize("kms:UpdateAlias", s.aliasARN(in.AliasName)); err != nil {
		return nil, err
	}
	a := s.aliases[in.AliasName]
	if a == nil {
		return nil, errorf(codeNotFound, "Alias %s is not found.", s.aliasARN(in.AliasName))
	}
	if err := r.Authorize("kms:UpdateAlias", s.keyARN(a.Target)); err != nil {
		return nil, err
	}
	k, err := s.targetKey(r, "kms:UpdateAlias", in.TargetKeyID)
	if err != nil {
		return nil, err
	}
	if old := s.keys[a.Target]; old.Usage != k.Usage {
		return nil, errorf(awsjson.CodeValidation, "%s and %s have different key usages (%s, %s); an alias moves between keys of the same type and usage only.",
			s.keyARN(old.ID), s.keyARN(k.ID), old.Usage, k.Usage)
	}
	s.setAlias(in.AliasName, k.ID, now)
	return struct{}{}, s.save()
}

func (s *Server) deleteAlias(r *awsjson.Request) (any, error) {
	var in aliasInput
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	if err := checkAliasName(in.AliasName); err != nil {
		return nil, err
	}
	if in.TargetKeyID != nil {
		return nil, errorf(awsjson.CodeSerialization, "DeleteAlias has no TargetKeyId member.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.purge(s.now())
	if err := r.Authorize("kms:DeleteAlias", s.aliasARN(in.AliasName)); err != nil {
		return nil, err
	}
	a := s.aliases[in.AliasName]
	if a == nil {
		return nil, errorf(codeNotFound, "Alias %s is not found.", s.aliasARN(in.AliasName))
	}
	if err := r.Authorize("kms:DeleteAlias", s.keyARN(a.Target)); err != nil {
		return nil, err
	}
	delete(s.aliases, in.AliasName)
	return struct{}{}, s.save()
}

type listAliasesInput struct {
	KeyID  *string `json:"KeyId"`
	Limit  *int
	Marker *string
}

type aliasEntry struct {
	AliasName       string
	AliasArn        string
	TargetKeyID     string        `json:"TargetKeyId"`
	CreationDate    awsjson.Epoch `json:",omitzero"`
	LastUpdatedDate awsjson.Epoch `json:",omitzero"`
}

type listAliasesOutput struct {
	Aliases    []aliasEntry
	NextMarker string `json:",omitempty"`
	Truncated  bool
}

func (s *Server) listAliases(r *awsjson.Request) (any, error) {
	var in listAliasesInput
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	limit := defaultListLimit
	if in.Limit != nil {
		if limit = *in.Limit; limit < 1 || limit > 100 {
			return nil, validation("limit", "Member must have value between 1 and 100")
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.purge(s.now())
	if err := r.Authorize("kms:ListAliases", "*"); err != nil {
		return nil, err
	}
	only := ""
	if in.KeyID != nil {
		k, _, err := s.resolve(*in.KeyID)
		if err != nil {
			return nil, err
		}
		only = k.ID
	}
	var all []aliasEntry
	for _, a := range s.aliases {
		if only == "" || a.Target == only {
			all = append(all, aliasEntry{AliasName: a.Name, AliasArn: s.aliasARN(a.Name), TargetKeyID: a.Target,
				CreationDate: awsjson.EpochOf(a.Created), LastUpdatedDate: awsjson.EpochOf(a.Updated)})
		}
	}
	slices.SortFunc(all, func(a, b aliasEntry) int { return strings.Compare(a.AliasName, b.AliasName) })
	start := 0
	if in.Marker != nil {
		b, err := base64.RawURLEncoding.DecodeString(*in.Marker)
		n, aerr := strconv.Atoi(string(b))
		if err != nil || aerr != nil || n < 0 || n > len(all) {
			return nil, errorf(codeInvalidMarker, "The marker is invalid.")
		}
		start = n
	}
	end := min(start+limit, len(all))
	out := listAliasesOutput{Aliases: append([]aliasEntry{}, all[start:end]...)}
	if end < len(all) {
		out.Truncated, out.NextMarker = true, base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(end)))
	}
	return out, nil
}

type scheduleInput struct {
	KeyID               string `json:"KeyId"`
	PendingWindowInDays *int
}

type scheduleOutput struct {
	KeyID               string `json:"KeyId"`
	DeletionDate        awsjson.Epoch
	KeyState            string
	PendingWindowInDays int
}

func (s *Server) scheduleKeyDeletion(r *awsjson.Request) (any, error) {
	var in scheduleInput
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	days := 30
	if in.PendingWindowInDays != nil {
		if days = *in.PendingWindowInDays; days < 7 || days > 30 {
			return nil, validation("pendingWindowInDays", "Member must have value between 7 and 30")
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k, err := s.lookup(r, "kms:ScheduleKeyDeletion", in.KeyID)
	if err != nil {
		return nil, err
	}
	if k.State == statePendingDeletion {
		return nil, errorf(codeInvalidState, "%s is pending deletion.", s.keyARN(k.ID))
	}
	k.State, k.PendingDays = statePendingDeletion, days
	k.DeletionDate = s.now().Add(time.Duration(days) * 24 * time.Hour)
	if err := s.save(); err != nil {
		return nil, err
	}
	return scheduleOutput{KeyID: s.keyARN(k.ID), DeletionDate: awsjson.EpochOf(k.DeletionDate), KeyState: k.State, PendingWindowInDays: days}, nil
}

type keyIDOutput struct {
	KeyID string `json:"KeyId"`
}

func (s *Server) cancelKeyDeletion(r *awsjson.Request) (any, error) {
	var in keyIDInput
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k, err := s.lookup(r, "kms:CancelKeyDeletion", in.KeyID)
	if err != nil {
		return nil, err
	}
	if k.State != statePendingDeletion {
		return nil, errorf(codeInvalidState, "%s is not pending deletion.", s.keyARN(k.ID))
	}
	// As in KMS, a key whose deletion is cancelled is Disabled.
	k.State, k.DeletionDate, k.PendingDays = stateDisabled, time.Time{}, 0
	if err := s.save(); err != nil {
		return nil, err
	}
	return keyIDOutput{s.keyARN(k.ID)}, nil
}

func (s *Server) setEnabled(r *awsjson.Request, action, state string) (any, error) {
	var in keyIDInput
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k, err := s.lookup(r, action, in.KeyID)
	if err != nil {
		return nil, err
	}
	if k.State == statePendingDeletion {
		return nil, errorf(codeInvalidState, "%s is pending deletion.", s.keyARN(k.ID))
	}
	if k.State != state {
		k.State = state
		if err := s.save(); err != nil {
			return nil, err
		}
	}
	return struct{}{}, nil
}

func (s *Server) disableKey(r *awsjson.Request) (any, error) {
	return s.setEnabled(r, "kms:DisableKey", stateDisabled)
}

func (s *Server) enableKey(r *awsjson.Request) (any, error) {
	return s.setEnabled(r, "kms:EnableKey", stateEnabled)
}
