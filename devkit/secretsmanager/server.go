package secretsmanager

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/go-json-experiment/json"

	"github.com/gatehouse-dev/gatehouse/devkit/internal/awsjson"
	"github.com/gatehouse-dev/gatehouse/devkit/sts"
	"github.com/gatehouse-dev/gatehouse/internal/privatefile"
)

// Config configures the local Secrets Manager.
type Config struct {
	// Account is the 12-digit account of the secrets' ARNs; "" means
	// "000000000000". Use the local STS's.
	Account string
	// Region is the region of the ARNs and of the SigV4 scope; "" means
	// "us-east-1". It must be the local STS's region, which checks the scope.
	Region string
	// STS authenticates every request; nil refuses every request
	// (UnrecognizedClientException).
	STS *sts.Server
	// StateFile keeps the secrets across restarts: "" keeps them in memory
	// only; otherwise JSON written atomically with mode 0600 (its directory
	// created 0700) after every change, and read by New.
	StateFile string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives one record per request; nil means slog.Default().
	// Secret values are never logged.
	Logger *slog.Logger
}

// Limits from the Secrets Manager API and quotas.
const (
	// maxBodyBytes bounds a request: a 64 KiB secret (base64-encoded when
	// binary), its name, description and 50 tags fit with room.
	maxBodyBytes    = 1 << 20
	maxValueBytes   = 65536
	maxNameChars    = 512
	maxSecretIDLen  = 2048
	maxDescription  = 2048
	maxTags         = 50
	maxStages       = 20
	maxVersions     = 100 // versions without a staging label beyond this are dropped, oldest first
	maxStateBytes   = 1 << 30
	defaultListSize = 100

	stageCurrent  = "AWSCURRENT"
	stagePrevious = "AWSPREVIOUS"
	stagePending  = "AWSPENDING"
)

// Error codes of Secrets Manager this double answers with (besides the
// awsjson ones).
const (
	codeResourceNotFound = "ResourceNotFoundException"
	codeInvalidParameter = "InvalidParameterException"
	codeInvalidRequest   = "InvalidRequestException"
	codeResourceExists   = "ResourceExistsException"
	codeInvalidNextToken = "InvalidNextTokenException"
	codeInternal         = "InternalServiceError"
)

var (
	accountPattern    = regexp.MustCompile(`^[0-9]{12}$`)
	regionPattern     = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)+$`)
	namePattern       = regexp.MustCompile(`^[A-Za-z0-9/_+=.@-]+$`)
	suffixAlphabet    = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	requestTokenChars = regexp.MustCompile(`^[\x21-\x7e]{32,64}$`)
)

// Server is a running local Secrets Manager. It needs no Close.
type Server struct {
	account, region string
	now             func() time.Time
	log             *slog.Logger
	file            string
	auth            awsjson.Authenticator // the STS; tests may stand in
	handler         http.Handler

	mu       sync.Mutex
	secrets  map[string]*secret // by name
	lastGood []byte             // the state last written to file
}

// secret is one secret and its versions; JSON is the state file's form.
type secret struct {
	Name         string     `json:"name"`
	ARN          string     `json:"arn"`
	Description  string     `json:"description,omitempty"`
	KmsKeyID     string     `json:"kms_key_id,omitempty"`
	Tags         []tag      `json:"tags,omitempty"`
	Created      time.Time  `json:"created"`
	Changed      time.Time  `json:"changed"`
	Accessed     time.Time  `json:"accessed,omitzero"`
	DeletionDate time.Time  `json:"deletion_date,omitzero"` // zero unless scheduled for deletion
	Versions     []*version `json:"versions,omitempty"`     // oldest first
}

type tag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

type version struct {
	ID      string    `json:"id"`
	String  *string   `json:"string,omitempty"`
	Binary  []byte    `json:"binary,omitempty"`
	Stages  []string  `json:"stages,omitempty"`
	Created time.Time `json:"created"`
}

// stateFile is the state file's content.
type stateFile struct {
	Version int       `json:"version"`
	Secrets []*secret `json:"secrets"`
}

// New validates the configuration and loads StateFile if it exists.
func New(cfg Config) (*Server, error) {
	s := &Server{account: cfg.Account, region: cfg.Region, now: cfg.Now, log: cfg.Logger, file: cfg.StateFile, secrets: map[string]*secret{}}
	var errs []error
	if s.account == "" {
		s.account = "000000000000"
	} else if !accountPattern.MatchString(s.account) {
		errs = append(errs, fmt.Errorf("field Account: %q is not 12 digits", cfg.Account))
	}
	if s.region == "" {
		s.region = "us-east-1"
	} else if !regionPattern.MatchString(s.region) {
		errs = append(errs, fmt.Errorf("field Region: %q is not a region name such as us-east-1", cfg.Region))
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if cfg.STS != nil {
		s.auth = cfg.STS
	}
	if s.file != "" && len(errs) == 0 {
		if err := s.load(); err != nil {
			errs = append(errs, fmt.Errorf("StateFile: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("secretsmanager: invalid configuration:\n%w", err)
	}
	svc := &awsjson.Service{
		Target:       "secretsmanager",
		SigningName:  "secretsmanager",
		MaxBody:      maxBodyBytes,
		InternalCode: codeInternal,
		Log:          s.log,
		Ops: map[string]awsjson.Handler{
			"CreateSecret":             s.createSecret,
			"GetSecretValue":           s.getSecretValue,
			"PutSecretValue":           s.putSecretValue,
			"UpdateSecretVersionStage": s.updateSecretVersionStage,
			"DescribeSecret":           s.describeSecret,
			"ListSecretVersionIds":     s.listSecretVersionIDs,
			"ListSecrets":              s.listSecrets,
			"DeleteSecret":             s.deleteSecret,
			"RestoreSecret":            s.restoreSecret,
		},
	}
	s.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		svc.Auth = s.auth
		svc.ServeHTTP(w, r)
	})
	return s, nil
}

// Handler serves the Secrets Manager API (see the package documentation).
func (s *Server) Handler() http.Handler { return s.handler }

// load reads the state file, if there is one.
func (s *Server) load() error {
	b, _, err := privatefile.Read(s.file, maxStateBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	secrets, err := decodeState(b)
	if err != nil {
		return fmt.Errorf("%s: %w", s.file, err)
	}
	s.secrets, s.lastGood = secrets, b
	return nil
}

func decodeState(b []byte) (map[string]*secret, error) {
	var st stateFile
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("not a state file of the local Secrets Manager: %w", err)
	}
	if st.Version != 1 {
		return nil, fmt.Errorf("state file version %d, want 1", st.Version)
	}
	out := map[string]*secret{}
	for _, sec := range st.Secrets {
		if sec == nil || !namePattern.MatchString(sec.Name) || out[sec.Name] != nil {
			return nil, errors.New("a secret without a valid, unique name")
		}
		out[sec.Name] = sec
	}
	return out, nil
}

// save writes the state after a change; on failure it puts back the state
// last written, so memory and file agree, and returns InternalServiceError.
// Callers hold mu.
func (s *Server) save() error {
	if s.file == "" {
		return nil
	}
	names := make([]string, 0, len(s.secrets))
	for n := range s.secrets {
		names = append(names, n)
	}
	slices.Sort(names)
	st := stateFile{Version: 1, Secrets: make([]*secret, 0, len(names))}
	for _, n := range names {
		st.Secrets = append(st.Secrets, s.secrets[n])
	}
	b, err := json.Marshal(st)
	if err == nil {
		err = privatefile.Write(s.file, b)
	}
	if err != nil {
		restored := map[string]*secret{}
		if s.lastGood != nil {
			if r, rerr := decodeState(s.lastGood); rerr == nil {
				restored = r
			}
		}
		s.secrets = restored
		s.log.Error("secretsmanager: writing the state file failed; the change is undone", "file", s.file, "err", err)
		return &awsjson.Error{Code: codeInternal, Status: http.StatusInternalServerError, Message: "An internal error occurred.", Err: err}
	}
	s.lastGood = b
	return nil
}

// PutSecret seeds a secret without the wire: it creates the secret with
// value as its AWSCURRENT version, or, if the secret exists, puts value as
// a new AWSCURRENT version (the old one becoming AWSPREVIOUS) unless it is
// already the AWSCURRENT value, so seeding the same value at every start
// adds no versions. A value that is valid UTF-8 is stored as SecretString,
// anything else as SecretBinary. A secret scheduled for deletion is
// restored first.
func (s *Server) PutSecret(name string, value []byte) (arn, versionID string, err error) {
	if utf8.Valid(value) {
		str := string(value)
		return s.seed(name, &str, nil)
	}
	return s.seed(name, nil, value)
}

// PutSecretBinary is PutSecret storing value as SecretBinary whatever it
// holds.
func (s *Server) PutSecretBinary(name string, value []byte) (arn, versionID string, err error) {
	return s.seed(name, nil, append([]byte{}, value...))
}

func (s *Server) seed(name string, str *string, bin []byte) (string, string, error) {
	if err := checkName(name); err != nil {
		return "", "", err
	}
	if len(bin) > maxValueBytes || (str != nil && len(*str) > maxValueBytes) {
		return "", "", fmt.Errorf("secretsmanager: secret %s: value larger than %d bytes", name, maxValueBytes)
	}
	if str == nil && len(bin) == 0 {
		return "", "", fmt.Errorf("secretsmanager: secret %s: empty binary value", name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	sec := s.lookup(name, now)
	if sec == nil {
		var err error
		if sec, err = s.newSecret(name, now); err != nil {
			return "", "", err
		}
		s.secrets[name] = sec
	} else {
		restored := !sec.DeletionDate.IsZero()
		sec.DeletionDate = time.Time{}
		if cur := sec.byStage(stageCurrent); cur != nil && sameValue(cur, str, bin) {
			if restored {
				if err := s.save(); err != nil {
					return "", "", err
				}
			}
			return sec.ARN, cur.ID, nil
		}
	}
	v := &version{ID: awsjson.NewRequestID(), String: str, Binary: bin, Created: now}
	sec.addVersion(v, []string{stageCurrent})
	sec.Changed = now
	if err := s.save(); err != nil {
		return "", "", err
	}
	s.log.Info("secretsmanager: secret seeded", "secret", sec.ARN, "version_id", v.ID)
	return sec.ARN, v.ID, nil
}

func checkName(name string) error {
	if name == "" || utf8.RuneCountInString(name) > maxNameChars || !namePattern.MatchString(name) {
		return fmt.Errorf("secretsmanager: secret name %q: want 1 to 512 of A-Z a-z 0-9 / _ + = . @ -", name)
	}
	return nil
}

// newSecret makes a secret with an ARN of name and a random suffix not in
// use. Callers hold mu.
func (s *Server) newSecret(name string, now time.Time) (*secret, error) {
	for range 10 {
		b := make([]byte, 6)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		for i := range b {
			b[i] = suffixAlphabet[int(b[i])%len(suffixAlphabet)]
		}
		arn := s.partialARN(name) + "-" + string(b)
		if !s.arnInUse(arn) {
			return &secret{Name: name, ARN: arn, Created: now, Changed: now}, nil
		}
	}
	return nil, errors.New("no free ARN suffix")
}

func (s *Server) arnInUse(arn string) bool {
	for _, o := range s.secrets {
		if o.ARN == arn {
			return true
		}
	}
	return false
}

// partialARN is the ARN of name without the random suffix.
func (s *Server) partialARN(name string) string {
	return "arn:aws:secretsmanager:" + s.region + ":" + s.account + ":secret:" + name
}

// lookup finds a secret by name, full ARN or partial ARN, dropping it if its
// deletion date has passed. Callers hold mu.
func (s *Server) lookup(id string, now time.Time) *secret {
	sec := s.secrets[id]
	if sec == nil {
		if name, ok := stripPrefix(id, s.partialARN("")); ok {
			if sec = s.secrets[name]; sec == nil {
				// A full ARN: name-XXXXXX.
				if len(name) > 7 && name[len(name)-7] == '-' {
					if c := s.secrets[name[:len(name)-7]]; c != nil && c.ARN == id {
						sec = c
					}
				}
			}
		}
	}
	if sec != nil && !sec.DeletionDate.IsZero() && !now.Before(sec.DeletionDate) {
		delete(s.secrets, sec.Name) // written with the next change
		return nil
	}
	return sec
}

func stripPrefix(s, prefix string) (string, bool) {
	if len(s) > len(prefix) && s[:len(prefix)] == prefix {
		return s[len(prefix):], true
	}
	return "", false
}

// resource is the ARN IAM checks for id: the secret's ARN when it exists,
// else the ARN or partial ARN the caller named.
// authorized finds the secret id names and checks that r may do action on
// it, before saying whether it exists (so a caller without the permission
// learns nothing). The caller holds s.mu.
func (s *Server) authorized(r *awsjson.Request, action, id string, now time.Time) (*secret, error) {
	sec := s.lookup(id, now)
	if err := r.Authorize(action, s.resource(sec, id)); err != nil {
		return nil, err
	}
	if sec == nil {
		return nil, secretNotFound()
	}
	return sec, nil
}

func (s *Server) resource(sec *secret, id string) string {
	if sec != nil {
		return sec.ARN
	}
	if len(id) >= 4 && id[:4] == "arn:" {
		return id
	}
	return s.partialARN(id)
}

func (sec *secret) byStage(stage string) *version {
	for _, v := range sec.Versions {
		if slices.Contains(v.Stages, stage) {
			return v
		}
	}
	return nil
}

func (sec *secret) byID(id string) *version {
	for _, v := range sec.Versions {
		if v.ID == id {
			return v
		}
	}
	return nil
}

// addVersion adds v with stages, moving each stage from the version that
// had it, then drops the oldest versions without a stage beyond
// maxVersions.
func (sec *secret) addVersion(v *version, stages []string) {
	sec.Versions = append(sec.Versions, v)
	for _, st := range stages {
		sec.attach(v, st)
	}
	for len(sec.Versions) > maxVersions {
		i := slices.IndexFunc(sec.Versions, func(o *version) bool { return len(o.Stages) == 0 })
		if i < 0 {
			break
		}
		sec.Versions = slices.Delete(sec.Versions, i, i+1)
	}
}

// attach moves stage to v. Moving AWSCURRENT gives the version that had it
// AWSPREVIOUS, as Secrets Manager does.
func (sec *secret) attach(v *version, stage string) {
	if slices.Contains(v.Stages, stage) {
		return
	}
	var from *version
	for _, o := range sec.Versions {
		if i := slices.Index(o.Stages, stage); i >= 0 {
			o.Stages = slices.Delete(o.Stages, i, i+1)
			from = o
		}
	}
	v.Stages = append(v.Stages, stage)
	if stage == stageCurrent && from != nil {
		sec.attach(from, stagePrevious)
	}
}

func sameValue(v *version, str *string, bin []byte) bool {
	if (v.String == nil) != (str == nil) {
		return false
	}
	if str != nil {
		return *v.String == *str
	}
	return string(v.Binary) == string(bin)
}
