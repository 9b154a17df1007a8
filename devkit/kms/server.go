package kms

import (
	"crypto"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-json-experiment/json"

	"github.com/gatehouse-dev/gatehouse/devkit/internal/awsjson"
	"github.com/gatehouse-dev/gatehouse/devkit/sts"
	"github.com/gatehouse-dev/gatehouse/internal/privatefile"
)

// Config configures the local KMS.
type Config struct {
	// Account is the 12-digit account of the keys' ARNs; "" means
	// "000000000000". Use the local STS's.
	Account string
	// Region is the region of the ARNs and of the SigV4 scope; "" means
	// "us-east-1". It must be the local STS's region, which checks the scope.
	Region string
	// STS authenticates every request; nil refuses every request
	// (UnrecognizedClientException).
	STS *sts.Server
	// StateFile keeps keys (their private key material included) and
	// aliases across restarts: "" keeps them in memory only; otherwise JSON
	// written atomically with mode 0600 (its directory created 0700) after
	// every change, and read by New.
	StateFile string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives one record per request; nil means slog.Default().
	// Key material, messages and signatures are never logged.
	Logger *slog.Logger
}

const (
	// maxBodyBytes bounds a request: a 4096-byte message and a 512-byte
	// signature, base64-encoded, fit many times over.
	maxBodyBytes     = 64 << 10
	maxMessageBytes  = 4096
	maxStateBytes    = 256 << 20
	defaultListLimit = 50

	stateEnabled         = "Enabled"
	stateDisabled        = "Disabled"
	statePendingDeletion = "PendingDeletion"
)

// KMS's error codes this double answers with (besides the awsjson ones).
const (
	codeNotFound         = "NotFoundException"
	codeDisabled         = "DisabledException"
	codeInvalidState     = "KMSInvalidStateException"
	codeInvalidSignature = "KMSInvalidSignatureException"
	codeInvalidKeyUsage  = "InvalidKeyUsageException"
	codeAlreadyExists    = "AlreadyExistsException"
	codeInvalidAlias     = "InvalidAliasNameException"
	codeInvalidMarker    = "InvalidMarkerException"
	codeInvalidGrant     = "InvalidGrantTokenException"
	codeUnsupported      = "UnsupportedOperationException"
	codeDryRun           = "DryRunOperationException"
	codeInternal         = "KMSInternalException"
)

var (
	accountPattern = regexp.MustCompile(`^[0-9]{12}$`)
	regionPattern  = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)+$`)
	keyIDPattern   = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	aliasPattern   = regexp.MustCompile(`^alias/[a-zA-Z0-9/_-]{1,250}$`)
)

// Server is a running local KMS. It needs no Close.
type Server struct {
	account, region string
	now             func() time.Time
	log             *slog.Logger
	file            string
	auth            awsjson.Authenticator // the STS; tests may stand in
	handler         http.Handler

	mu       sync.Mutex
	keys     map[string]*key   // by key id
	aliases  map[string]*alias // by name ("alias/…")
	lastGood []byte
}

// key is one KMS key; JSON is the state file's form.
type key struct {
	ID           string    `json:"id"`
	Spec         string    `json:"spec"`
	Usage        string    `json:"usage"`
	Description  string    `json:"description,omitempty"`
	Created      time.Time `json:"created"`
	State        string    `json:"state"`
	DeletionDate time.Time `json:"deletion_date,omitzero"`
	PendingDays  int       `json:"pending_days,omitzero"`
	Tags         []tag     `json:"tags,omitempty"`
	Material     []byte    `json:"material"` // PKCS #8

	signer crypto.Signer
}

type tag struct {
	TagKey   string
	TagValue string
}

type alias struct {
	Name    string    `json:"name"`
	Target  string    `json:"target"` // key id
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
}

type stateFile struct {
	Version int      `json:"version"`
	Keys    []*key   `json:"keys"`
	Aliases []*alias `json:"aliases"`
}

// New validates the configuration and loads StateFile if it exists.
func New(cfg Config) (*Server, error) {
	s := &Server{account: cfg.Account, region: cfg.Region, now: cfg.Now, log: cfg.Logger, file: cfg.StateFile,
		keys: map[string]*key{}, aliases: map[string]*alias{}}
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
		return nil, fmt.Errorf("kms: invalid configuration:\n%w", err)
	}
	svc := &awsjson.Service{
		Target:       "TrentService",
		SigningName:  "kms",
		MaxBody:      maxBodyBytes,
		InternalCode: codeInternal,
		Log:          s.log,
		Ops: map[string]awsjson.Handler{
			"CreateKey":           s.createKey,
			"DescribeKey":         s.describeKey,
			"GetPublicKey":        s.getPublicKey,
			"Sign":                s.sign,
			"Verify":              s.verify,
			"CreateAlias":         s.createAlias,
			"UpdateAlias":         s.updateAlias,
			"DeleteAlias":         s.deleteAlias,
			"ListAliases":         s.listAliases,
			"ScheduleKeyDeletion": s.scheduleKeyDeletion,
			"CancelKeyDeletion":   s.cancelKeyDeletion,
			"DisableKey":          s.disableKey,
			"EnableKey":           s.enableKey,
		},
	}
	s.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		svc.Auth = s.auth
		svc.ServeHTTP(w, r)
	})
	return s, nil
}

// Handler serves the KMS API (see the package documentation).
func (s *Server) Handler() http.Handler { return s.handler }

func (s *Server) load() error {
	b, _, err := privatefile.Read(s.file, maxStateBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	keys, aliases, err := decodeState(b)
	if err != nil {
		return fmt.Errorf("%s: %w", s.file, err)
	}
	s.keys, s.aliases, s.lastGood = keys, aliases, b
	return nil
}

func decodeState(b []byte) (map[string]*key, map[string]*alias, error) {
	var st stateFile
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, nil, fmt.Errorf("not a state file of the local KMS: %w", err)
	}
	if st.Version != 1 {
		return nil, nil, fmt.Errorf("state file version %d, want 1", st.Version)
	}
	keys := map[string]*key{}
	for _, k := range st.Keys {
		if k == nil || !keyIDPattern.MatchString(k.ID) || keys[k.ID] != nil {
			return nil, nil, errors.New("a key without a valid, unique id")
		}
		signer, err := parseMaterial(k.Material)
		if err != nil {
			return nil, nil, fmt.Errorf("key %s: %w", k.ID, err)
		}
		k.signer = signer
		keys[k.ID] = k
	}
	aliases := map[string]*alias{}
	for _, a := range st.Aliases {
		if a == nil || !aliasPattern.MatchString(a.Name) || keys[a.Target] == nil {
			return nil, nil, errors.New("an alias without a valid name or target")
		}
		aliases[a.Name] = a
	}
	return keys, aliases, nil
}

// save writes the state after a change; on failure it puts back the state
// last written and returns KMSInternalException. Callers hold mu.
func (s *Server) save() error {
	if s.file == "" {
		return nil
	}
	st := stateFile{Version: 1, Keys: []*key{}, Aliases: []*alias{}}
	for _, k := range s.keys {
		st.Keys = append(st.Keys, k)
	}
	for _, a := range s.aliases {
		st.Aliases = append(st.Aliases, a)
	}
	slices.SortFunc(st.Keys, func(a, b *key) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(st.Aliases, func(a, b *alias) int { return strings.Compare(a.Name, b.Name) })
	b, err := json.Marshal(st)
	if err == nil {
		err = privatefile.Write(s.file, b)
	}
	if err != nil {
		s.keys, s.aliases = map[string]*key{}, map[string]*alias{}
		if s.lastGood != nil {
			if k, a, rerr := decodeState(s.lastGood); rerr == nil {
				s.keys, s.aliases = k, a
			}
		}
		s.log.Error("kms: writing the state file failed; the change is undone", "file", s.file, "err", err)
		return &awsjson.Error{Code: codeInternal, Status: http.StatusInternalServerError, Message: "An internal error occurred.", Err: err}
	}
	s.lastGood = b
	return nil
}

func (s *Server) keyARN(id string) string {
	return "arn:aws:kms:" + s.region + ":" + s.account + ":key/" + id
}

func (s *Server) aliasARN(name string) string {
	return "arn:aws:kms:" + s.region + ":" + s.account + ":" + name
}

// purge drops keys whose deletion date has passed, with their aliases.
// Callers hold mu; the change is written with the next one.
func (s *Server) purge(now time.Time) {
	for id, k := range s.keys {
		if k.State == statePendingDeletion && !now.Before(k.DeletionDate) {
			delete(s.keys, id)
			for n, a := range s.aliases {
				if a.Target == id {
					delete(s.aliases, n)
				}
			}
		}
	}
}

// resolve finds the key a KeyId names: a key id, key ARN, alias name or
// alias ARN. resource is the ARN IAM checks: the key's ARN when found,
// else the ARN the caller named. Callers hold mu.
func (s *Server) resolve(id string) (k *key, resource string, err error) {
	if id == "" || len(id) > 2048 {
		return nil, "", validation("keyId", "Member must have length between 1 and 2048")
	}
	s.purge(s.now())
	name := id
	if strings.HasPrefix(id, "arn:") {
		parts := strings.SplitN(id, ":", 6)
		if len(parts) != 6 || parts[2] != "kms" || parts[3] != s.region || parts[4] != s.account {
			return nil, id, errorf(codeNotFound, "Invalid arn %s", awsjson.Echo(id, 256))
		}
		name = parts[5]
		if !strings.HasPrefix(name, "alias/") && !strings.HasPrefix(name, "key/") {
			return nil, id, errorf(codeNotFound, "Invalid arn %s", awsjson.Echo(id, 256))
		}
		name = strings.TrimPrefix(name, "key/")
	}
	if strings.HasPrefix(name, "alias/") {
		a := s.aliases[name]
		if a == nil {
			return nil, s.aliasARN(name), errorf(codeNotFound, "Alias %s is not found.", awsjson.Echo(s.aliasARN(name), 512))
		}
		name = a.Target
	}
	k = s.keys[name]
	if k == nil {
		if !keyIDPattern.MatchString(name) {
			return nil, s.keyARN(awsjson.Echo(name, 64)), errorf(codeNotFound, "Invalid keyId '%s'", awsjson.Echo(id, 256))
		}
		return nil, s.keyARN(name), errorf(codeNotFound, "Key '%s' does not exist", s.keyARN(name))
	}
	return k, s.keyARN(k.ID), nil
}

// lookup resolves id and authorizes action on it, permission before
// existence: a caller learns nothing of keys it may not use.
func (s *Server) lookup(r *awsjson.Request, action, id string) (*key, error) {
	k, resource, err := s.resolve(id)
	if resource != "" {
		if aerr := r.Authorize(action, resource); aerr != nil {
			return nil, aerr
		}
	}
	return k, err
}

// usable refuses a key that is not Enabled, in KMS's words.
func (s *Server) usable(k *key) error {
	switch k.State {
	case stateDisabled:
		return errorf(codeDisabled, "%s is disabled.", s.keyARN(k.ID))
	case statePendingDeletion:
		return errorf(codeInvalidState, "%s is pending deletion.", s.keyARN(k.ID))
	}
	return nil
}

func errorf(code, format string, args ...any) error { return awsjson.Errorf(code, format, args...) }

func validation(field, constraint string) error {
	return errorf(awsjson.CodeValidation, "1 validation error detected: Value at '%s' failed to satisfy constraint: %s", field, constraint)
}

// CreateKey makes an asymmetric signing key of spec (RSA_2048, RSA_3072,
// RSA_4096, ECC_NIST_P256, ECC_NIST_P384, ECC_NIST_P521) without the wire
// and returns its key id. With an alias ("alias/name" or "name"): if the
// alias already names an enabled key of spec, that key is returned and
// nothing is made, so seeding at every start adds no keys; otherwise the
// new key is made and the alias created or moved to it.
func (s *Server) CreateKey(spec, aliasName string) (keyID string, err error) {
	if aliasName != "" && !strings.HasPrefix(aliasName, "alias/") {
		aliasName = "alias/" + aliasName
	}
	if aliasName != "" && (!aliasPattern.MatchString(aliasName) || strings.HasPrefix(aliasName, "alias/aws/")) {
		return "", fmt.Errorf("kms: alias %q: want alias/ and 1 to 250 of A-Z a-z 0-9 / _ -, not under alias/aws/", aliasName)
	}
	if _, ok := keySpecs[spec]; !ok {
		return "", fmt.Errorf("kms: key spec %q: want one of %s", spec, strings.Join(specNames(), ", "))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.purge(now)
	if a := s.aliases[aliasName]; a != nil {
		if k := s.keys[a.Target]; k.Spec == spec && k.State == stateEnabled {
			return k.ID, nil
		}
	}
	k, err := s.newKey(spec, "", nil, now)
	if err != nil {
		return "", err
	}
	s.keys[k.ID] = k
	if aliasName != "" {
		s.setAlias(aliasName, k.ID, now)
	}
	if err := s.save(); err != nil {
		return "", err
	}
	s.log.Info("kms: key created", "key", s.keyARN(k.ID), "key_spec", spec, "alias", aliasName)
	return k.ID, nil
}

// RotateKey makes a new key of the spec of the key aliasName names and
// moves the alias to it: how an asymmetric key is rotated (KMS does not
// rotate asymmetric keys itself). The old key stays, enabled, for
// verifying what it signed.
func (s *Server) RotateKey(aliasName string) (keyID string, err error) {
	if !strings.HasPrefix(aliasName, "alias/") {
		aliasName = "alias/" + aliasName
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.purge(now)
	a := s.aliases[aliasName]
	if a == nil {
		return "", fmt.Errorf("kms: no alias %s", aliasName)
	}
	old := s.keys[a.Target]
	k, err := s.newKey(old.Spec, old.Description, nil, now)
	if err != nil {
		return "", err
	}
	s.keys[k.ID] = k
	s.setAlias(aliasName, k.ID, now)
	if err := s.save(); err != nil {
		return "", err
	}
	s.log.Info("kms: key rotated", "alias", aliasName, "old_key", s.keyARN(old.ID), "key", s.keyARN(k.ID))
	return k.ID, nil
}

// PublicKey returns the public key of the key id names (any KeyId form).
func (s *Server) PublicKey(id string) (crypto.PublicKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, _, err := s.resolve(id)
	if err != nil {
		return nil, fmt.Errorf("kms: %w", err)
	}
	return k.signer.Public(), nil
}

func specNames() []string {
	var names []string
	for n := range keySpecs {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// newKey generates a key. Callers hold mu (generation of an RSA 4096 key
// takes a while; this is a development tool).
func (s *Server) newKey(spec, description string, tags []tag, now time.Time) (*key, error) {
	signer, der, err := newMaterial(spec)
	if err != nil {
		return nil, err
	}
	return &key{ID: awsjson.NewRequestID(), Spec: spec, Usage: "SIGN_VERIFY", Description: description, Created: now,
		State: stateEnabled, Tags: tags, Material: der, signer: signer}, nil
}

func (s *Server) setAlias(name, target string, now time.Time) {
	if a := s.aliases[name]; a != nil {
		a.Target, a.Updated = target, now
		return
	}
	s.aliases[name] = &alias{Name: name, Target: target, Created: now, Updated: now}
}
