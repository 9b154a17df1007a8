package secretsmanager

import (
	"encoding/base64"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/devkit/internal/awsjson"
)

// Errors in Secrets Manager's words.

func errorf(code, format string, args ...any) error { return awsjson.Errorf(code, format, args...) }

// validation is the model-constraint refusal AWS answers before an
// operation runs.
func validation(field, constraint string) error {
	return errorf(awsjson.CodeValidation, "1 validation error detected: Value at '%s' failed to satisfy constraint: %s", field, constraint)
}

func secretNotFound() error {
	return errorf(codeResourceNotFound, "Secrets Manager can't find the specified secret.")
}

func markedForDeletion() error {
	return errorf(codeInvalidRequest, "You can't perform this operation on the secret because it was marked for deletion.")
}

// checkSecretID applies the model's constraint on SecretId.
func checkSecretID(id string) error {
	if id == "" || utf8.RuneCountInString(id) > maxSecretIDLen {
		return validation("secretId", "Member must have length between 1 and 2048")
	}
	return nil
}

// value is a secret value as a request carries it.
type value struct {
	String *string
	Binary []byte
}

func (v value) check(required bool) error {
	switch {
	case v.String != nil && v.Binary != nil:
		return errorf(codeInvalidParameter, "You can't specify both a binary secret value and a string secret value in the same secret.")
	case required && v.String == nil && v.Binary == nil:
		return errorf(codeInvalidParameter, "You must provide either SecretString or SecretBinary.")
	case v.String != nil && utf8.RuneCountInString(*v.String) > maxValueBytes:
		return validation("secretString", "Member must have length less than or equal to 65536")
	case len(v.Binary) > maxValueBytes:
		return validation("secretBinary", "Member must have length less than or equal to 65536")
	case v.Binary != nil && len(v.Binary) == 0:
		return validation("secretBinary", "Member must have length greater than or equal to 1")
	}
	return nil
}

// versionID returns ClientRequestToken, or a new id when the caller sent
// none (the SDKs always send one).
func versionID(token *string) (string, error) {
	if token == nil {
		return awsjson.NewRequestID(), nil
	}
	if !requestTokenChars.MatchString(*token) {
		return "", validation("clientRequestToken", "Member must have length between 32 and 64")
	}
	return *token, nil
}

func checkTags(tags []tag) error {
	if len(tags) > maxTags {
		return validation("tags", "Member must have length less than or equal to 50")
	}
	seen := map[string]bool{}
	for _, t := range tags {
		if n := utf8.RuneCountInString(t.Key); n < 1 || n > 128 {
			return validation("tags.member.key", "Member must have length between 1 and 128")
		}
		if utf8.RuneCountInString(t.Value) > 256 {
			return validation("tags.member.value", "Member must have length less than or equal to 256")
		}
		if strings.HasPrefix(strings.ToLower(t.Key), "aws:") {
			return errorf(codeInvalidParameter, "Tag keys starting with aws: are reserved.")
		}
		if seen[t.Key] {
			return errorf(codeInvalidParameter, "Tag key %s is given more than once.", awsjson.Echo(t.Key, 128))
		}
		seen[t.Key] = true
	}
	return nil
}

type replicaRegion struct {
	KmsKeyID *string `json:"KmsKeyId"`
	Region   *string `json:"Region"`
}

type createSecretInput struct {
	Name                        string
	ClientRequestToken          *string
	Description                 *string
	KmsKeyID                    *string `json:"KmsKeyId"`
	SecretString                *string
	SecretBinary                []byte
	Tags                        []tag
	AddReplicaRegions           []replicaRegion
	ForceOverwriteReplicaSecret bool
	Type                        *string
	CrossAccountPrimaryARN      *string `json:"CrossAccountPrimaryARN"`
}

type createSecretOutput struct {
	ARN       string
	Name      string
	VersionID string `json:"VersionId,omitempty"`
}

func (s *Server) createSecret(r *awsjson.Request) (any, error) {
	var in createSecretInput
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	if in.Name == "" || utf8.RuneCountInString(in.Name) > maxNameChars {
		return nil, validation("name", "Member must have length between 1 and 512")
	}
	if !namePattern.MatchString(in.Name) {
		return nil, errorf(codeInvalidParameter, "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!")
	}
	switch {
	case len(in.AddReplicaRegions) > 0 || in.ForceOverwriteReplicaSecret:
		return nil, errorf(codeInvalidRequest, "The local Secrets Manager does not replicate secrets (AddReplicaRegions).")
	case in.CrossAccountPrimaryARN != nil:
		return nil, errorf(codeInvalidRequest, "The local Secrets Manager has no cross-account replicas (CrossAccountPrimaryARN).")
	case in.Type != nil:
		return nil, errorf(codeInvalidRequest, "The local Secrets Manager has no managed external secrets (Type).")
	}
	if in.Description != nil && utf8.RuneCountInString(*in.Description) > maxDescription {
		return nil, validation("description", "Member must have length less than or equal to 2048")
	}
	val := value{in.SecretString, in.SecretBinary}
	if err := val.check(false); err != nil {
		return nil, err
	}
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	vid, err := versionID(in.ClientRequestToken)
	if err != nil {
		return nil, err
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	existing := s.lookup(in.Name, now)
	sec := existing
	if sec == nil {
		if sec, err = s.newSecret(in.Name, now); err != nil {
			return nil, err
		}
	}
	if err := r.Authorize("secretsmanager:CreateSecret", sec.ARN); err != nil {
		return nil, err
	}
	if len(in.Tags) > 0 {
		if err := r.Authorize("secretsmanager:TagResource", sec.ARN); err != nil {
			return nil, err
		}
	}
	if existing != nil {
		if !existing.DeletionDate.IsZero() {
			return nil, errorf(codeInvalidRequest, "You can't create this secret because a secret with this name is already scheduled for deletion.")
		}
		// A retry of the same request (same token and value) succeeds.
		if v := existing.byID(vid); v != nil && sameValue(v, val.String, val.Binary) {
			return createSecretOutput{ARN: existing.ARN, Name: existing.Name, VersionID: v.ID}, nil
		}
		return nil, errorf(codeResourceExists, "The operation failed because the secret %s already exists.", in.Name)
	}
	if in.Description != nil {
		sec.Description = *in.Description
	}
	if in.KmsKeyID != nil {
		sec.KmsKeyID = *in.KmsKeyID
	}
	sec.Tags = in.Tags
	out := createSecretOutput{ARN: sec.ARN, Name: sec.Name}
	if val.String != nil || val.Binary != nil {
		sec.addVersion(&version{ID: vid, String: val.String, Binary: val.Binary, Created: now}, []string{stageCurrent})
		out.VersionID = vid
	}
	s.secrets[sec.Name] = sec
	if err := s.save(); err != nil {
		return nil, err
	}
	return out, nil
}

type getSecretValueInput struct {
	SecretID     string  `json:"SecretId"`
	VersionID    *string `json:"VersionId"`
	VersionStage *string
}

type getSecretValueOutput struct {
	ARN           string
	Name          string
	VersionID     string        `json:"VersionId"`
	SecretString  *string       `json:",omitzero"`
	SecretBinary  []byte        `json:",omitzero"`
	VersionStages []string      `json:",omitempty"`
	CreatedDate   awsjson.Epoch `json:",omitzero"`
}

func (s *Server) getSecretValue(r *awsjson.Request) (any, error) {
	var in getSecretValueInput
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	if err := checkSecretID(in.SecretID); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	sec, err := s.authorized(r, "secretsmanager:GetSecretValue", in.SecretID, now)
	if err != nil {
		return nil, err
	}
	if !sec.DeletionDate.IsZero() {
		return nil, markedForDeletion()
	}
	v, err := sec.pick(in.VersionID, in.VersionStage)
	if err != nil {
		return nil, err
	}
	sec.Accessed = now.UTC().Truncate(24 * time.Hour)
	return getSecretValueOutput{
		ARN: sec.ARN, Name: sec.Name, VersionID: v.ID,
		SecretString: v.String, SecretBinary: v.Binary,
		VersionStages: slices.Clone(v.Stages), CreatedDate: awsjson.EpochOf(v.Created),
	}, nil
}

// pick finds the version by id and/or stage (AWSCURRENT when neither).
func (sec *secret) pick(id, stage *string) (*version, error) {
	if id != nil && !requestTokenChars.MatchString(*id) {
		return nil, validation("versionId", "Member must have length between 32 and 64")
	}
	if stage != nil && (*stage == "" || utf8.RuneCountInString(*stage) > 256) {
		return nil, validation("versionStage", "Member must have length between 1 and 256")
	}
	switch {
	case id != nil:
		v := sec.byID(*id)
		if v == nil || (stage != nil && !slices.Contains(v.Stages, *stage)) {
			if stage != nil {
				return nil, errorf(codeResourceNotFound, "Secrets Manager can't find the specified secret value for VersionId: %s and staging label: %s", *id, awsjson.Echo(*stage, 256))
			}
			return nil, errorf(codeResourceNotFound, "Secrets Manager can't find the specified secret value for VersionId: %s", *id)
		}
		return v, nil
	default:
		label := stageCurrent
		if stage != nil {
			label = *stage
		}
		v := sec.byStage(label)
		if v == nil {
			return nil, errorf(codeResourceNotFound, "Secrets Manager can't find the specified secret value for staging label: %s", awsjson.Echo(label, 256))
		}
		return v, nil
	}
}

type putSecretValueInput struct {
	SecretID           string `json:"SecretId"`
	ClientRequestToken *string
	SecretString       *string
	SecretBinary       []byte
	VersionStages      []string
	RotationToken      *string
}

type putSecretValueOutput struct {
	ARN           string
	Name          string
	VersionID     string `json:"VersionId"`
	VersionStages []string
}

func checkStages(stages []string) error {
	if len(stages) < 1 || len(stages) > maxStages {
		return validation("versionStages", "Member must have length between 1 and 20")
	}
	for _, st := range stages {
		if st == "" || utf8.RuneCountInString(st) > 256 {
			return validation("versionStages.member", "Member must have length between 1 and 256")
		}
	}
	return nil
}

func (s *Server) putSecretValue(r *awsjson.Request) (any, error) {
	var in putSecretValueInput
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	if err := checkSecretID(in.SecretID); err != nil {
		return nil, err
	}
	if in.RotationToken != nil {
		return nil, errorf(codeInvalidParameter, "RotationToken is for rotation functions; the local Secrets Manager runs none.")
	}
	val := value{in.SecretString, in.SecretBinary}
	if err := val.check(true); err != nil {
		return nil, err
	}
	stages := in.VersionStages
	if stages == nil {
		stages = []string{stageCurrent}
	}
	if err := checkStages(stages); err != nil {
		return nil, err
	}
	vid, err := versionID(in.ClientRequestToken)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	sec, err := s.authorized(r, "secretsmanager:PutSecretValue", in.SecretID, now)
	if err != nil {
		return nil, err
	}
	if !sec.DeletionDate.IsZero() {
		return nil, markedForDeletion()
	}
	if v := sec.byID(vid); v != nil {
		// The same request again (a retry) does nothing; another value
		// under an existing version id is refused: versions never change.
		if !sameValue(v, val.String, val.Binary) {
			return nil, errorf(codeResourceExists, "You can't modify an existing version, you can only create a new version.")
		}
		return putSecretValueOutput{ARN: sec.ARN, Name: sec.Name, VersionID: v.ID, VersionStages: slices.Clone(v.Stages)}, nil
	}
	v := &version{ID: vid, String: val.String, Binary: val.Binary, Created: now}
	sec.addVersion(v, stages)
	sec.Changed = now
	if err := s.save(); err != nil {
		return nil, err
	}
	return putSecretValueOutput{ARN: sec.ARN, Name: sec.Name, VersionID: v.ID, VersionStages: slices.Clone(v.Stages)}, nil
}

type updateStageInput struct {
	SecretID            string `json:"SecretId"`
	VersionStage        string
	MoveToVersionID     *string `json:"MoveToVersionId"`
	RemoveFromVersionID *string `json:"RemoveFromVersionId"`
}

type arnName struct {
	ARN  string
	Name string
}

func (s *Server) updateSecretVersionStage(r *awsjson.Request) (any, error) {
	var in updateStageInput
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	if err := checkSecretID(in.SecretID); err != nil {
		return nil, err
	}
	if in.VersionStage == "" || utf8.RuneCountInString(in.VersionStage) > 256 {
		return nil, validation("versionStage", "Member must have length between 1 and 256")
	}
	for _, p := range []*string{in.MoveToVersionID, in.RemoveFromVersionID} {
		if p != nil && !requestTokenChars.MatchString(*p) {
			return nil, validation("versionId", "Member must have length between 32 and 64")
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	sec, err := s.authorized(r, "secretsmanager:UpdateSecretVersionStage", in.SecretID, now)
	if err != nil {
		return nil, err
	}
	if !sec.DeletionDate.IsZero() {
		return nil, markedForDeletion()
	}
	holder := sec.byStage(in.VersionStage)
	var to *version
	if in.MoveToVersionID != nil {
		if to = sec.byID(*in.MoveToVersionID); to == nil {
			return nil, errorf(codeResourceNotFound, "Secrets Manager can't find the specified secret value for VersionId: %s", *in.MoveToVersionID)
		}
	}
	switch {
	case holder != nil && holder != to && in.RemoveFromVersionID == nil:
		return nil, errorf(codeInvalidParameter, "The parameter RemoveFromVersionId can't be empty. Staging label %s is currently attached to version %s, so you must explicitly reference that version in RemoveFromVersionId.",
			awsjson.Echo(in.VersionStage, 256), holder.ID)
	case in.RemoveFromVersionID != nil && (holder == nil || holder.ID != *in.RemoveFromVersionID):
		return nil, errorf(codeInvalidParameter, "The staging label %s is not attached to version %s.", awsjson.Echo(in.VersionStage, 256), *in.RemoveFromVersionID)
	case in.VersionStage == stageCurrent && to == nil:
		return nil, errorf(codeInvalidParameter, "You can't remove the staging label AWSCURRENT without moving it to another version (MoveToVersionId).")
	case to != nil && !slices.Contains(to.Stages, in.VersionStage) && len(to.Stages) >= maxStages:
		return nil, errorf(codeInvalidParameter, "A version can have at most %d staging labels.", maxStages)
	}
	if to != nil {
		sec.attach(to, in.VersionStage)
	} else if holder != nil {
		holder.Stages = slices.DeleteFunc(holder.Stages, func(st string) bool { return st == in.VersionStage })
	}
	sec.Changed = now
	if err := s.save(); err != nil {
		return nil, err
	}
	return arnName{sec.ARN, sec.Name}, nil
}

type secretIDInput struct {
	SecretID string `json:"SecretId"`
}

type describeSecretOutput struct {
	ARN                string
	Name               string
	Description        string              `json:",omitempty"`
	KmsKeyID           string              `json:"KmsKeyId,omitempty"`
	CreatedDate        awsjson.Epoch       `json:",omitzero"`
	LastChangedDate    awsjson.Epoch       `json:",omitzero"`
	LastAccessedDate   awsjson.Epoch       `json:",omitzero"`
	DeletedDate        awsjson.Epoch       `json:",omitzero"`
	RotationEnabled    bool                `json:",omitzero"`
	Tags               []tag               `json:",omitempty"`
	VersionIdsToStages map[string][]string `json:",omitempty"`
}

func (s *Server) describe(sec *secret) describeSecretOutput {
	out := describeSecretOutput{
		ARN: sec.ARN, Name: sec.Name, Description: sec.Description, KmsKeyID: sec.KmsKeyID,
		CreatedDate: awsjson.EpochOf(sec.Created), LastChangedDate: awsjson.EpochOf(sec.Changed),
		LastAccessedDate: awsjson.EpochOf(sec.Accessed), DeletedDate: awsjson.EpochOf(sec.DeletionDate),
		Tags: slices.Clone(sec.Tags), VersionIdsToStages: map[string][]string{},
	}
	for _, v := range sec.Versions {
		if len(v.Stages) > 0 {
			out.VersionIdsToStages[v.ID] = slices.Clone(v.Stages)
		}
	}
	return out
}

func (s *Server) describeSecret(r *awsjson.Request) (any, error) {
	var in secretIDInput
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	if err := checkSecretID(in.SecretID); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, err := s.authorized(r, "secretsmanager:DescribeSecret", in.SecretID, s.now())
	if err != nil {
		return nil, err
	}
	return s.describe(sec), nil
}

type listVersionsInput struct {
	SecretID          string `json:"SecretId"`
	MaxResults        *int
	NextToken         *string
	IncludeDeprecated *bool
}

type versionEntry struct {
	VersionID     string        `json:"VersionId"`
	VersionStages []string      `json:",omitempty"`
	CreatedDate   awsjson.Epoch `json:",omitzero"`
}

type listVersionsOutput struct {
	ARN       string
	Name      string
	Versions  []versionEntry
	NextToken string `json:",omitempty"`
}

func (s *Server) listSecretVersionIDs(r *awsjson.Request) (any, error) {
	var in listVersionsInput
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	if err := checkSecretID(in.SecretID); err != nil {
		return nil, err
	}
	limit, err := maxResults(in.MaxResults)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, err := s.authorized(r, "secretsmanager:ListSecretVersionIds", in.SecretID, s.now())
	if err != nil {
		return nil, err
	}
	var all []versionEntry
	for i := len(sec.Versions) - 1; i >= 0; i-- { // newest first
		v := sec.Versions[i]
		if len(v.Stages) == 0 && (in.IncludeDeprecated == nil || !*in.IncludeDeprecated) {
			continue
		}
		all = append(all, versionEntry{VersionID: v.ID, VersionStages: slices.Clone(v.Stages), CreatedDate: awsjson.EpochOf(v.Created)})
	}
	page, next, err := paginate(all, in.NextToken, limit)
	if err != nil {
		return nil, err
	}
	return listVersionsOutput{ARN: sec.ARN, Name: sec.Name, Versions: page, NextToken: next}, nil
}

func maxResults(p *int) (int, error) {
	if p == nil {
		return defaultListSize, nil
	}
	if *p < 1 || *p > 100 {
		return 0, validation("maxResults", "Member must have value between 1 and 100")
	}
	return *p, nil
}

// paginate returns the page of items from the position NextToken names
// (an offset, base64: opaque to callers).
func paginate[T any](items []T, token *string, limit int) ([]T, string, error) {
	start := 0
	if token != nil {
		b, err := base64.RawURLEncoding.DecodeString(*token)
		n, aerr := strconv.Atoi(string(b))
		if err != nil || aerr != nil || n < 0 || n > len(items) {
			return nil, "", errorf(codeInvalidNextToken, "The NextToken value is invalid.")
		}
		start = n
	}
	end := min(start+limit, len(items))
	next := ""
	if end < len(items) {
		next = base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(end)))
	}
	page := items[start:end]
	if page == nil {
		page = []T{}
	}
	return page, next, nil
}

type filter struct {
	Key    string
	Values []string
}

type listSecretsInput struct {
	MaxResults             *int
	NextToken              *string
	Filters                []filter
	SortOrder              *string
	SortBy                 *string
	IncludePlannedDeletion *bool
}

type listSecretsOutput struct {
	SecretList []secretListEntry
	NextToken  string `json:",omitempty"`
}

type secretListEntry struct {
	ARN                    string
	Name                   string
	Description            string              `json:",omitempty"`
	KmsKeyID               string              `json:"KmsKeyId,omitempty"`
	CreatedDate            awsjson.Epoch       `json:",omitzero"`
	LastChangedDate        awsjson.Epoch       `json:",omitzero"`
	LastAccessedDate       awsjson.Epoch       `json:",omitzero"`
	DeletedDate            awsjson.Epoch       `json:",omitzero"`
	Tags                   []tag               `json:",omitempty"`
	SecretVersionsToStages map[string][]string `json:",omitempty"`
}

func (s *Server) listSecrets(r *awsjson.Request) (any, error) {
	var in listSecretsInput
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	limit, err := maxResults(in.MaxResults)
	if err != nil {
		return nil, err
	}
	if len(in.Filters) > 10 {
		return nil, validation("filters", "Member must have length less than or equal to 10")
	}
	for _, f := range in.Filters {
		switch f.Key {
		case "name", "description", "tag-key", "tag-value", "all":
		case "primary-region", "owning-service":
			return nil, errorf(codeInvalidParameter, "The local Secrets Manager has no replicated or service-owned secrets to filter by %s.", f.Key)
		default:
			return nil, validation("filters.member.key", "Member must satisfy enum value set: [description, name, tag-key, tag-value, primary-region, owning-service, all]")
		}
		if len(f.Values) < 1 || len(f.Values) > 10 {
			return nil, validation("filters.member.values", "Member must have length between 1 and 10")
		}
	}
	desc := false
	if in.SortOrder != nil {
		switch *in.SortOrder {
		case "asc":
		case "desc":
			desc = true
		default:
			return nil, validation("sortOrder", "Member must satisfy enum value set: [asc, desc]")
		}
	}
	sortBy := "created-date"
	if in.SortBy != nil {
		switch *in.SortBy {
		case "created-date", "name", "last-changed-date", "last-accessed-date":
			sortBy = *in.SortBy
		default:
			return nil, validation("sortBy", "Member must satisfy enum value set: [created-date, last-accessed-date, last-changed-date, name]")
		}
	}
	if err := r.Authorize("secretsmanager:ListSecrets", "*"); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	var list []*secret
	for name := range s.secrets {
		sec := s.lookup(name, now)
		if sec == nil || (!sec.DeletionDate.IsZero() && (in.IncludePlannedDeletion == nil || !*in.IncludePlannedDeletion)) {
			continue
		}
		if matchesFilters(sec, in.Filters) {
			list = append(list, sec)
		}
	}
	key := func(sec *secret) time.Time {
		switch sortBy {
		case "last-changed-date":
			return sec.Changed
		case "last-accessed-date":
			return sec.Accessed
		}
		return sec.Created
	}
	slices.SortFunc(list, func(a, b *secret) int {
		c := 0
		if sortBy != "name" {
			c = key(a).Compare(key(b))
		}
		if c == 0 {
			c = strings.Compare(a.Name, b.Name)
		}
		if desc {
			c = -c
		}
		return c
	})
	entries := make([]secretListEntry, 0, len(list))
	for _, sec := range list {
		d := s.describe(sec)
		entries = append(entries, secretListEntry{
			ARN: d.ARN, Name: d.Name, Description: d.Description, KmsKeyID: d.KmsKeyID,
			CreatedDate: d.CreatedDate, LastChangedDate: d.LastChangedDate, LastAccessedDate: d.LastAccessedDate,
			DeletedDate: d.DeletedDate, Tags: d.Tags, SecretVersionsToStages: d.VersionIdsToStages,
		})
	}
	page, next, err := paginate(entries, in.NextToken, limit)
	if err != nil {
		return nil, err
	}
	return listSecretsOutput{SecretList: page, NextToken: next}, nil
}

// matchesFilters applies ListSecrets filters: every filter must match;
// within one, any value. A value matches as a prefix of the field or of a
// word in it (words split at / _ + = . @ - and spaces); "!" before a value
// negates it.
func matchesFilters(sec *secret, filters []filter) bool {
	for _, f := range filters {
		var fields []string
		switch f.Key {
		case "name":
			fields = []string{sec.Name}
		case "description":
			fields = []string{sec.Description}
		case "tag-key", "tag-value":
			for _, t := range sec.Tags {
				if f.Key == "tag-key" {
					fields = append(fields, t.Key)
				} else {
					fields = append(fields, t.Value)
				}
			}
		case "all":
			fields = []string{sec.Name, sec.Description}
			for _, t := range sec.Tags {
				fields = append(fields, t.Key, t.Value)
			}
		}
		ok := false
		for _, v := range f.Values {
			neg := strings.HasPrefix(v, "!")
			v = strings.TrimPrefix(v, "!")
			if anyPrefix(fields, v) != neg {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func anyPrefix(fields []string, prefix string) bool {
	for _, f := range fields {
		if strings.HasPrefix(f, prefix) {
			return true
		}
		for _, w := range strings.FieldsFunc(f, func(r rune) bool { return strings.ContainsRune("/_+=.@- ", r) }) {
			if strings.HasPrefix(w, prefix) {
				return true
			}
		}
	}
	return false
}

type deleteSecretInput struct {
	SecretID                   string `json:"SecretId"`
	RecoveryWindowInDays       *int64
	ForceDeleteWithoutRecovery *bool
}

type deleteSecretOutput struct {
	ARN          string
	Name         string
	DeletionDate awsjson.Epoch
}

func (s *Server) deleteSecret(r *awsjson.Request) (any, error) {
	var in deleteSecretInput
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	if err := checkSecretID(in.SecretID); err != nil {
		return nil, err
	}
	force := in.ForceDeleteWithoutRecovery != nil && *in.ForceDeleteWithoutRecovery
	if force && in.RecoveryWindowInDays != nil {
		return nil, errorf(codeInvalidParameter, "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.")
	}
	days := int64(30)
	if in.RecoveryWindowInDays != nil {
		if days = *in.RecoveryWindowInDays; days < 7 || days > 30 {
			return nil, errorf(codeInvalidParameter, "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).")
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	sec, err := s.authorized(r, "secretsmanager:DeleteSecret", in.SecretID, now)
	if err != nil {
		return nil, err
	}
	if !sec.DeletionDate.IsZero() && !force {
		return nil, errorf(codeInvalidRequest, "You can't perform this operation on the secret because it was already scheduled for deletion.")
	}
	out := deleteSecretOutput{ARN: sec.ARN, Name: sec.Name}
	if force {
		delete(s.secrets, sec.Name)
		out.DeletionDate = awsjson.EpochOf(now)
	} else {
		sec.DeletionDate = now.Add(time.Duration(days) * 24 * time.Hour)
		out.DeletionDate = awsjson.EpochOf(sec.DeletionDate)
	}
	if err := s.save(); err != nil {
		return nil, err
	}
	return out, nil
}

func (s *Server) restoreSecret(r *awsjson.Request) (any, error) {
	var in secretIDInput
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	if err := checkSecretID(in.SecretID); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, err := s.authorized(r, "secretsmanager:RestoreSecret", in.SecretID, s.now())
	if err != nil {
		return nil, err
	}
	if !sec.DeletionDate.IsZero() {
		sec.DeletionDate = time.Time{}
		if err := s.save(); err != nil {
			return nil, err
		}
	}
	return arnName{sec.ARN, sec.Name}, nil
}
