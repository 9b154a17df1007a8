package secretsmanager

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

const dbSecret = `{"username":"app","password":"s3cr3t-v1","host":"db.internal","port":5432}`

// TestRotationWithSDK is a rotation as a rotation function does it, with
// the SDK: a new version with PutSecretValue becomes AWSCURRENT and the old
// one AWSPREVIOUS; both are read by stage and by version id; a label moves
// with UpdateSecretVersionStage; retries with the same ClientRequestToken
// change nothing.
func TestRotationWithSDK(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.client(f.creds(t, "admin", ""))
	ctx := testContext(t)

	created, err := c.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String("app/db"), Description: aws.String("the database"),
		SecretString: aws.String(dbSecret), Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("payments")}}})
	if err != nil {
		t.Fatalf("CreateSecret: %v", err)
	}
	arn := aws.ToString(created.ARN)
	if !strings.HasPrefix(arn, arnPrefix+"app/db-") || len(arn) != len(arnPrefix+"app/db-")+6 {
		t.Fatalf("ARN = %s, want %sapp/db-<6 characters>", arn, arnPrefix)
	}
	v1 := aws.ToString(created.VersionId)

	got, err := c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("app/db")})
	if err != nil {
		t.Fatalf("GetSecretValue: %v", err)
	}
	var parsed struct {
		Username, Password string
		Port               int
	}
	if err := json.Unmarshal([]byte(aws.ToString(got.SecretString)), &parsed); err != nil || parsed.Password != "s3cr3t-v1" || parsed.Port != 5432 {
		t.Fatalf("SecretString = %q (%v), want the JSON put", aws.ToString(got.SecretString), err)
	}
	if aws.ToString(got.VersionId) != v1 || !slices.Equal(got.VersionStages, []string{"AWSCURRENT"}) || got.SecretBinary != nil ||
		aws.ToString(got.ARN) != arn || aws.ToString(got.Name) != "app/db" || got.CreatedDate == nil {
		t.Errorf("GetSecretValue = %+v", got)
	}

	// Rotate: the SDK fills ClientRequestToken, which becomes the version id.
	rotated := strings.Replace(dbSecret, "s3cr3t-v1", "s3cr3t-v2", 1)
	put, err := c.PutSecretValue(ctx, &sm.PutSecretValueInput{SecretId: aws.String(arn), SecretString: aws.String(rotated)})
	if err != nil {
		t.Fatalf("PutSecretValue: %v", err)
	}
	v2 := aws.ToString(put.VersionId)
	if v2 == v1 || !slices.Equal(put.VersionStages, []string{"AWSCURRENT"}) {
		t.Fatalf("PutSecretValue = %s %v, want a new AWSCURRENT version", v2, put.VersionStages)
	}
	read := func(in *sm.GetSecretValueInput) (string, string, []string) {
		t.Helper()
		out, err := c.GetSecretValue(ctx, in)
		if err != nil {
			t.Fatalf("GetSecretValue(%s, %v, %v): %v", aws.ToString(in.SecretId), aws.ToString(in.VersionId), aws.ToString(in.VersionStage), err)
		}
		return aws.ToString(out.SecretString), aws.ToString(out.VersionId), out.VersionStages
	}
	partial := arnPrefix + "app/db"
	if s, id, st := read(&sm.GetSecretValueInput{SecretId: aws.String(partial)}); s != rotated || id != v2 || !slices.Equal(st, []string{"AWSCURRENT"}) {
		t.Errorf("current = %s %s %v, want v2", s, id, st)
	}
	if s, id, st := read(&sm.GetSecretValueInput{SecretId: aws.String("app/db"), VersionStage: aws.String("AWSPREVIOUS")}); s != dbSecret || id != v1 || !slices.Equal(st, []string{"AWSPREVIOUS"}) {
		t.Errorf("AWSPREVIOUS = %s %s %v, want v1", s, id, st)
	}
	if s, _, _ := read(&sm.GetSecretValueInput{SecretId: aws.String("app/db"), VersionId: aws.String(v1)}); s != dbSecret {
		t.Errorf("by version id v1 = %s", s)
	}
	if s, _, _ := read(&sm.GetSecretValueInput{SecretId: aws.String("app/db"), VersionId: aws.String(v2), VersionStage: aws.String("AWSCURRENT")}); s != rotated {
		t.Errorf("by version id and stage = %s", s)
	}
	_, err = c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("app/db"), VersionId: aws.String(v1), VersionStage: aws.String("AWSCURRENT")})
	wantAPIError(t, err, "ResourceNotFoundException")

	// A retry of the same PutSecretValue does nothing; another value under
	// the same token is refused.
	token := "00000000-0000-4000-8000-000000000003"
	for range 2 {
		out, err := c.PutSecretValue(ctx, &sm.PutSecretValueInput{SecretId: aws.String("app/db"), ClientRequestToken: aws.String(token),
			SecretString: aws.String("pending"), VersionStages: []string{"AWSPENDING"}})
		if err != nil || aws.ToString(out.VersionId) != token || !slices.Equal(out.VersionStages, []string{"AWSPENDING"}) {
			t.Fatalf("PutSecretValue(AWSPENDING) = %v, %v", out, err)
		}
	}
	_, err = c.PutSecretValue(ctx, &sm.PutSecretValueInput{SecretId: aws.String("app/db"), ClientRequestToken: aws.String(token), SecretString: aws.String("other")})
	wantAPIError(t, err, "ResourceExistsException")

	d, err := c.DescribeSecret(ctx, &sm.DescribeSecretInput{SecretId: aws.String("app/db")})
	if err != nil {
		t.Fatalf("DescribeSecret: %v", err)
	}
	wantStages := map[string][]string{v1: {"AWSPREVIOUS"}, v2: {"AWSCURRENT"}, token: {"AWSPENDING"}}
	if !mapsEqual(d.VersionIdsToStages, wantStages) || aws.ToString(d.Description) != "the database" || len(d.Tags) != 1 || d.DeletedDate != nil {
		t.Errorf("DescribeSecret = %+v, want stages %v", d, wantStages)
	}

	// Roll back with UpdateSecretVersionStage: AWSCURRENT to v1, and v2
	// becomes AWSPREVIOUS.
	_, err = c.UpdateSecretVersionStage(ctx, &sm.UpdateSecretVersionStageInput{SecretId: aws.String("app/db"), VersionStage: aws.String("AWSCURRENT"), MoveToVersionId: aws.String(v1)})
	if msg := wantAPIError(t, err, "InvalidParameterException"); !strings.Contains(msg, v2) {
		t.Errorf("message %q does not name the version holding AWSCURRENT", msg)
	}
	if _, err := c.UpdateSecretVersionStage(ctx, &sm.UpdateSecretVersionStageInput{SecretId: aws.String("app/db"), VersionStage: aws.String("AWSCURRENT"),
		MoveToVersionId: aws.String(v1), RemoveFromVersionId: aws.String(v2)}); err != nil {
		t.Fatalf("UpdateSecretVersionStage: %v", err)
	}
	if s, id, _ := read(&sm.GetSecretValueInput{SecretId: aws.String("app/db")}); s != dbSecret || id != v1 {
		t.Errorf("after rollback current = %s", id)
	}
	if _, id, _ := read(&sm.GetSecretValueInput{SecretId: aws.String("app/db"), VersionStage: aws.String("AWSPREVIOUS")}); id != v2 {
		t.Errorf("after rollback AWSPREVIOUS = %s, want v2", id)
	}
	// Remove AWSPENDING: the version keeps no label and is listed only
	// with IncludeDeprecated.
	if _, err := c.UpdateSecretVersionStage(ctx, &sm.UpdateSecretVersionStageInput{SecretId: aws.String("app/db"), VersionStage: aws.String("AWSPENDING"),
		RemoveFromVersionId: aws.String(token)}); err != nil {
		t.Fatalf("UpdateSecretVersionStage(remove): %v", err)
	}
	_, err = c.UpdateSecretVersionStage(ctx, &sm.UpdateSecretVersionStageInput{SecretId: aws.String("app/db"), VersionStage: aws.String("AWSCURRENT"), RemoveFromVersionId: aws.String(v1)})
	wantAPIError(t, err, "InvalidParameterException")
	for _, deprecated := range []bool{false, true} {
		lv, err := c.ListSecretVersionIds(ctx, &sm.ListSecretVersionIdsInput{SecretId: aws.String("app/db"), IncludeDeprecated: aws.Bool(deprecated)})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, v := range lv.Versions {
			ids = append(ids, aws.ToString(v.VersionId))
		}
		want := []string{v2, v1}
		if deprecated {
			want = []string{token, v2, v1}
		}
		if !slices.Equal(ids, want) {
			t.Errorf("ListSecretVersionIds(IncludeDeprecated=%v) = %v, want %v (newest first)", deprecated, ids, want)
		}
	}
	if strings.Contains(f.logs.String(), "s3cr3t") || strings.Contains(f.logs.String(), "pending") {
		t.Errorf("a secret value reached the log:\n%s", f.logs)
	}
}

func mapsEqual(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// TestBinaryAndLookups: a binary secret comes back as bytes; a secret is
// found by name, ARN and partial ARN; a name that ends like a suffix is
// not confused with another secret's ARN.
func TestBinaryAndLookups(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.client(f.creds(t, "admin", ""))
	ctx := testContext(t)
	key := []byte{0, 1, 2, 0xff, 0xfe, 'k'}
	out, err := c.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String("tls/key"), SecretBinary: key})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"tls/key", aws.ToString(out.ARN), arnPrefix + "tls/key"} {
		got, err := c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String(id)})
		if err != nil {
			t.Fatalf("GetSecretValue(%s): %v", id, err)
		}
		if string(got.SecretBinary) != string(key) || got.SecretString != nil {
			t.Errorf("GetSecretValue(%s) = %x %v, want the bytes", id, got.SecretBinary, got.SecretString)
		}
	}
	for _, id := range []string{"tls/ke", arnPrefix + "tls/key-XXXXXX", "arn:aws:secretsmanager:eu-west-1:123456789012:secret:tls/key", aws.ToString(out.ARN) + "x"} {
		_, err := c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String(id)})
		var nf *types.ResourceNotFoundException
		if !errors.As(err, &nf) {
			t.Errorf("GetSecretValue(%s) = %v, want ResourceNotFoundException", id, err)
		}
	}
	// Both values, or none for PutSecretValue.
	_, err = c.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String("both"), SecretBinary: key, SecretString: aws.String("x")})
	wantAPIError(t, err, "InvalidParameterException")
	_, err = c.PutSecretValue(ctx, &sm.PutSecretValueInput{SecretId: aws.String("tls/key")})
	wantAPIError(t, err, "InvalidParameterException")
	_, err = c.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String("tls/key"), SecretString: aws.String("again")})
	var exists *types.ResourceExistsException
	if !errors.As(err, &exists) {
		t.Errorf("CreateSecret of an existing name = %v, want ResourceExistsException", err)
	}
	_, err = c.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String("bad name")})
	wantAPIError(t, err, "InvalidParameterException")
	// A secret without a value has no AWSCURRENT to read.
	if _, err := c.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String("empty")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("empty")})
	if msg := wantAPIError(t, err, "ResourceNotFoundException"); !strings.Contains(msg, "staging label: AWSCURRENT") {
		t.Errorf("message %q", msg)
	}
	// RotateSecret needs a rotation Lambda: not served, and said so.
	_, err = c.RotateSecret(ctx, &sm.RotateSecretInput{SecretId: aws.String("tls/key")})
	if msg := wantAPIError(t, err, "UnknownOperationException"); !strings.Contains(msg, "secretsmanager.RotateSecret") {
		t.Errorf("message %q", msg)
	}
}

// TestDeleteAndRestore: a secret scheduled for deletion refuses its value
// with InvalidRequestException and shows DeletedDate; RestoreSecret brings
// it back; once the window passes, or with ForceDeleteWithoutRecovery, it
// is gone.
func TestDeleteAndRestore(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.client(f.creds(t, "admin", ""))
	ctx := testContext(t)
	for _, n := range []string{"a", "b", "c"} {
		if _, err := c.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String(n), SecretString: aws.String("v-" + n)}); err != nil {
			t.Fatal(err)
		}
	}
	del, err := c.DeleteSecret(ctx, &sm.DeleteSecretInput{SecretId: aws.String("a"), RecoveryWindowInDays: aws.Int64(7)})
	if err != nil {
		t.Fatal(err)
	}
	if want := f.clock.Now().Add(7 * 24 * time.Hour); !aws.ToTime(del.DeletionDate).Equal(want) {
		t.Errorf("DeletionDate = %v, want %v", del.DeletionDate, want)
	}
	_, err = c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("a")})
	var ir *types.InvalidRequestException
	if !errors.As(err, &ir) || !strings.Contains(ir.ErrorMessage(), "marked for deletion") {
		t.Fatalf("GetSecretValue of a deleted secret = %v, want InvalidRequestException", err)
	}
	_, err = c.PutSecretValue(ctx, &sm.PutSecretValueInput{SecretId: aws.String("a"), SecretString: aws.String("x")})
	wantAPIError(t, err, "InvalidRequestException")
	_, err = c.DeleteSecret(ctx, &sm.DeleteSecretInput{SecretId: aws.String("a")})
	wantAPIError(t, err, "InvalidRequestException")
	_, err = c.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String("a")})
	wantAPIError(t, err, "InvalidRequestException")
	d, err := c.DescribeSecret(ctx, &sm.DescribeSecretInput{SecretId: aws.String("a")})
	if err != nil || d.DeletedDate == nil {
		t.Fatalf("DescribeSecret = %+v, %v; want DeletedDate", d, err)
	}
	list, err := c.ListSecrets(ctx, &sm.ListSecretsInput{})
	if err != nil || len(list.SecretList) != 2 {
		t.Fatalf("ListSecrets = %+v, %v; want b and c only", list, err)
	}
	list, err = c.ListSecrets(ctx, &sm.ListSecretsInput{IncludePlannedDeletion: aws.Bool(true)})
	if err != nil || len(list.SecretList) != 3 {
		t.Fatalf("ListSecrets(IncludePlannedDeletion) = %d, %v; want 3", len(list.SecretList), err)
	}

	if _, err := c.RestoreSecret(ctx, &sm.RestoreSecretInput{SecretId: aws.String("a")}); err != nil {
		t.Fatal(err)
	}
	if got, err := c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("a")}); err != nil || aws.ToString(got.SecretString) != "v-a" {
		t.Fatalf("after RestoreSecret: %v, %v", got, err)
	}

	_, err = c.DeleteSecret(ctx, &sm.DeleteSecretInput{SecretId: aws.String("b"), RecoveryWindowInDays: aws.Int64(7), ForceDeleteWithoutRecovery: aws.Bool(true)})
	wantAPIError(t, err, "InvalidParameterException")
	_, err = c.DeleteSecret(ctx, &sm.DeleteSecretInput{SecretId: aws.String("b"), RecoveryWindowInDays: aws.Int64(6)})
	wantAPIError(t, err, "InvalidParameterException")
	if _, err := c.DeleteSecret(ctx, &sm.DeleteSecretInput{SecretId: aws.String("b"), ForceDeleteWithoutRecovery: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	_, err = c.RestoreSecret(ctx, &sm.RestoreSecretInput{SecretId: aws.String("b")})
	wantAPIError(t, err, "ResourceNotFoundException")

	if _, err := c.DeleteSecret(ctx, &sm.DeleteSecretInput{SecretId: aws.String("c")}); err != nil {
		t.Fatal(err)
	}
	f.clock.Add(30*24*time.Hour + time.Second)
	_, err = c.DescribeSecret(ctx, &sm.DescribeSecretInput{SecretId: aws.String("c")})
	wantAPIError(t, err, "ResourceNotFoundException")
	if _, err := c.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String("c")}); err != nil {
		t.Errorf("CreateSecret after the window passed: %v", err)
	}
}

// TestListSecrets: filters, sort order and pages.
func TestListSecrets(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.client(f.creds(t, "admin", ""))
	ctx := testContext(t)
	for i, n := range []string{"app/db", "app/cache", "ops/pager", "app/admin-token"} {
		f.clock.Add(time.Second)
		tags := []types.Tag{{Key: aws.String("env"), Value: aws.String([]string{"prod", "dev", "prod", "prod"}[i])}}
		if _, err := c.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String(n), Tags: tags, SecretString: aws.String("x")}); err != nil {
			t.Fatal(err)
		}
	}
	names := func(in *sm.ListSecretsInput) []string {
		t.Helper()
		var out []string
		p := sm.NewListSecretsPaginator(c, in)
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatalf("ListSecrets: %v", err)
			}
			for _, s := range page.SecretList {
				out = append(out, aws.ToString(s.Name))
			}
		}
		return out
	}
	tests := []struct {
		in   *sm.ListSecretsInput
		want []string
	}{
		{&sm.ListSecretsInput{MaxResults: aws.Int32(1)}, []string{"app/db", "app/cache", "ops/pager", "app/admin-token"}},
		{&sm.ListSecretsInput{SortOrder: types.SortOrderTypeDesc, MaxResults: aws.Int32(3)}, []string{"app/admin-token", "ops/pager", "app/cache", "app/db"}},
		{&sm.ListSecretsInput{SortBy: types.SortByTypeName}, []string{"app/admin-token", "app/cache", "app/db", "ops/pager"}},
		{&sm.ListSecretsInput{Filters: []types.Filter{{Key: types.FilterNameStringTypeName, Values: []string{"app/"}}}}, []string{"app/db", "app/cache", "app/admin-token"}},
		{&sm.ListSecretsInput{Filters: []types.Filter{{Key: types.FilterNameStringTypeName, Values: []string{"admin"}}}}, []string{"app/admin-token"}},
		{&sm.ListSecretsInput{Filters: []types.Filter{{Key: types.FilterNameStringTypeTagValue, Values: []string{"prod"}},
			{Key: types.FilterNameStringTypeName, Values: []string{"!ops"}}}}, []string{"app/db", "app/admin-token"}},
	}
	for _, tc := range tests {
		if got := names(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("ListSecrets(%+v) = %v, want %v", tc.in, got, tc.want)
		}
	}
	_, err := c.ListSecrets(ctx, &sm.ListSecretsInput{NextToken: aws.String("bogus")})
	wantAPIError(t, err, "InvalidNextTokenException")
	_, err = c.ListSecrets(ctx, &sm.ListSecretsInput{Filters: []types.Filter{{Key: types.FilterNameStringTypePrimaryRegion, Values: []string{"x"}}}})
	wantAPIError(t, err, "InvalidParameterException")
}

// TestAccessDenied: the role's identity policy and the session policy
// decide, in AWS's words; a caller learns nothing of secrets it may not
// read.
func TestAccessDenied(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := testContext(t)
	dbARN, _, err := f.srv.PutSecret("app/db", []byte("db"))
	if err != nil {
		t.Fatal(err)
	}
	adminARN, _, _ := f.srv.PutSecret("app/admin-key", []byte("admin"))
	opsARN, _, _ := f.srv.PutSecret("ops/pager", []byte("pager"))

	reader := f.client(f.creds(t, "reader", ""))
	if got, err := reader.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("app/db")}); err != nil || aws.ToString(got.SecretString) != "db" {
		t.Fatalf("reader GetSecretValue(app/db) = %v, %v", got, err)
	}
	const user = "arn:aws:sts::123456789012:assumed-role/reader/ada"
	tests := []struct {
		name   string
		call   func() error
		reason string
	}{
		{"other path", func() error {
			_, err := reader.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("ops/pager")})
			return err
		}, "User: " + user + " is not authorized to perform: secretsmanager:GetSecretValue on resource: " + opsARN + " because no identity-based policy allows the secretsmanager:GetSecretValue action"},
		{"explicit deny", func() error {
			_, err := reader.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String(adminARN)})
			return err
		}, "User: " + user + " is not authorized to perform: secretsmanager:GetSecretValue on resource: " + adminARN + " with an explicit deny in an identity-based policy"},
		{"other action", func() error {
			_, err := reader.PutSecretValue(ctx, &sm.PutSecretValueInput{SecretId: aws.String("app/db"), SecretString: aws.String("x")})
			return err
		}, "User: " + user + " is not authorized to perform: secretsmanager:PutSecretValue on resource: " + dbARN + " because no identity-based policy allows the secretsmanager:PutSecretValue action"},
		{"list needs star", func() error {
			_, err := reader.ListSecrets(ctx, &sm.ListSecretsInput{})
			return err
		}, "User: " + user + " is not authorized to perform: secretsmanager:ListSecrets on resource: * because no identity-based policy allows the secretsmanager:ListSecrets action"},
		{"unknown secret outside the policy", func() error {
			_, err := reader.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("ops/nope")})
			return err
		}, "User: " + user + " is not authorized to perform: secretsmanager:GetSecretValue on resource: " + arnPrefix + "ops/nope because no identity-based policy allows the secretsmanager:GetSecretValue action"},
		{"no identity policy", func() error {
			_, err := f.client(f.creds(t, "nothing", "")).DescribeSecret(ctx, &sm.DescribeSecretInput{SecretId: aws.String("app/db")})
			return err
		}, "User: arn:aws:sts::123456789012:assumed-role/nothing/ada is not authorized to perform: secretsmanager:DescribeSecret on resource: " + dbARN + " because no identity-based policy allows the secretsmanager:DescribeSecret action"},
		{"session policy narrows", func() error {
			narrowed := f.client(f.creds(t, "admin", `{"Statement":{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"`+arnPrefix+`ops/*"}}`))
			if _, err := narrowed.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("ops/pager")}); err != nil {
				t.Errorf("narrowed session on ops/pager: %v", err)
			}
			_, err := narrowed.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("app/db")})
			return err
		}, "User: arn:aws:sts::123456789012:assumed-role/admin/ada is not authorized to perform: secretsmanager:GetSecretValue on resource: " + dbARN + " because no session policy allows the secretsmanager:GetSecretValue action"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if msg := wantAPIError(t, err, "AccessDeniedException"); msg != tc.reason {
				t.Errorf("message:\n got %s\nwant %s", msg, tc.reason)
			}
		})
	}
	// Reading an unknown secret the policy covers: not found.
	_, err = reader.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("app/nope")})
	wantAPIError(t, err, "ResourceNotFoundException")
}

// TestAuthentication: wrong signatures, unknown keys and expired sessions
// are refused with the codes AWS JSON services use.
func TestAuthentication(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := testContext(t)
	good := f.creds(t, "admin", "")
	in := &sm.ListSecretsInput{}

	wrongSecret := good
	wrongSecret.SecretAccessKey += "x"
	_, err := f.client(wrongSecret).ListSecrets(ctx, in)
	wantAPIError(t, err, "InvalidSignatureException")

	unknown := good
	unknown.AccessKeyID = "ASIAUNKNOWNKEY000000"
	_, err = f.client(unknown).ListSecrets(ctx, in)
	wantAPIError(t, err, "UnrecognizedClientException")

	wrongToken := good
	wrongToken.SessionToken = "x"
	_, err = f.client(wrongToken).ListSecrets(ctx, in)
	wantAPIError(t, err, "UnrecognizedClientException")

	_, err = f.client(aws.Credentials{}).ListSecrets(ctx, in)
	if err == nil {
		t.Error("an unsigned request succeeded")
	}

	if _, err := f.client(good).ListSecrets(ctx, in); err != nil {
		t.Fatalf("good credentials: %v", err)
	}
	f.stsClock.Add(2 * time.Hour)
	_, err = f.client(good).ListSecrets(ctx, in)
	wantAPIError(t, err, "ExpiredTokenException")
}

// TestStateFile: a restart with the same state file keeps secrets and
// versions; the file is private; PutSecret of the same value adds no
// version.
func TestStateFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state", "secretsmanager.json")
	f := newFixture(t, func(c *Config) { c.StateFile = path })
	arn, v1, err := f.srv.PutSecret("app/db", []byte("one"))
	if err != nil {
		t.Fatal(err)
	}
	if a, v, err := f.srv.PutSecret("app/db", []byte("one")); err != nil || a != arn || v != v1 {
		t.Fatalf("PutSecret again = %s %s %v, want the same version", a, v, err)
	}
	_, v2, err := f.srv.PutSecret("app/db", []byte("two"))
	if err != nil || v2 == v1 {
		t.Fatalf("PutSecret(two) = %s, %v", v2, err)
	}
	if _, _, err := f.srv.PutSecretBinary("bin", []byte("raw")); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v, %v; want mode 0600", fi, err)
	}
	raw, _ := os.ReadFile(path)
	if !strings.Contains(string(raw), `"two"`) {
		t.Fatalf("state file does not hold the values:\n%s", raw)
	}

	again := newFixture(t, func(c *Config) { c.StateFile = path })
	c := again.client(again.creds(t, "admin", ""))
	ctx := testContext(t)
	got, err := c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String(arn), VersionStage: aws.String("AWSPREVIOUS")})
	if err != nil || aws.ToString(got.SecretString) != "one" || aws.ToString(got.VersionId) != v1 {
		t.Fatalf("after restart AWSPREVIOUS = %v, %v", got, err)
	}
	bin, err := c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("bin")})
	if err != nil || string(bin.SecretBinary) != "raw" || bin.SecretString != nil {
		t.Fatalf("binary after restart = %v, %v", bin, err)
	}

	if err := os.WriteFile(path, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{StateFile: path}); err == nil || !strings.Contains(err.Error(), "StateFile") {
		t.Errorf("New with a broken state file: %v", err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{StateFile: path}); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("New with a world-readable state file: %v", err)
	}
}

// TestNewRefusesConfig names each mistake.
func TestNewRefusesConfig(t *testing.T) {
	t.Parallel()
	_, err := New(Config{Account: "1", Region: "us east"})
	if err == nil || !strings.Contains(err.Error(), "Account") || !strings.Contains(err.Error(), "Region") {
		t.Errorf("New = %v, want Account and Region named", err)
	}
	s, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.PutSecret("bad name", []byte("x")); err == nil {
		t.Error("PutSecret accepted a bad name")
	}
}
