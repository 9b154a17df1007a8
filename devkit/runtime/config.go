package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/gatehouse-dev/gatehouse/devkit/sts"
)

// Config configures the local Lambda host. Everything in it is data from the
// gatehouse configuration; nothing here is ever read from a request.
type Config struct {
	// Functions are the hosted functions; names are unique.
	Functions []Function
	// Region is the region of function ARNs and of the SigV4 scope the
	// Invoke API accepts (the STS checks the scope); "" means "us-east-1".
	Region string
	// AccountID is the 12-digit account of function ARNs; "" means
	// "000000000000".
	AccountID string
	// StateDir holds the executables built from Go packages (StateDir/bin);
	// required when any Function has a Package.
	StateDir string
	// STS checks the SigV4 signature of Invoke API requests (service
	// "lambda") and says which session made them; *sts.Server satisfies it.
	// nil refuses every Invoke API request (fail closed); Host.Invoke, the
	// in-process entry, does not authenticate.
	STS Authenticator
	// Credentials returns the execution-role credentials an instance gets
	// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), called
	// once per instance start with the function's ExecutionRole and the
	// function name as session name (as Lambda names its sessions). An
	// instance whose credentials expire within 5 minutes is replaced before
	// its next invocation. nil means no function may name an
	// ExecutionRole.
	Credentials func(ctx context.Context, roleARN, sessionName string) (aws.Credentials, error)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives function output (one record per line, tagged with
	// function and request id), one record per invocation and per Invoke API
	// refusal; nil means slog.Default(). Payloads, responses and credentials
	// are never logged, only their sizes.
	Logger *slog.Logger
}

// Authenticator checks a SigV4-signed request; *sts.Server implements it.
// body is the whole request body. An error is a refusal, an *sts.Error
// whose Code says why.
type Authenticator interface {
	Authenticate(r *http.Request, body []byte, service string) (*sts.Session, error)
}

var _ Authenticator = (*sts.Server)(nil)

// Function is one hosted function: exactly one of Executable and Package.
type Function struct {
	// Name is the function name: 1 to 64 of [A-Za-z0-9_-].
	Name string
	// Executable is the path of a Lambda executable (a custom runtime's
	// bootstrap, e.g. a Go program that calls lambda.Start). Its directory is
	// the working directory and LAMBDA_TASK_ROOT.
	Executable string
	// Args are the arguments Executable is started with (an executable
	// that hosts several functions, such as gatehouse itself with its
	// built-in examples, is told which to run); none for a Package.
	Args []string
	// Package is a Go package directory (package main), built with
	// `go build` into StateDir/bin/<Name> by Start, and rebuilt before an
	// invocation when a .go file of it, or of a package of its main module
	// that it imports, has changed (checked at most once a second).
	Package string
	// Handler is _HANDLER; "" means "bootstrap".
	Handler string
	// Env is extra environment for the function. Keys are 2 or more of
	// [A-Za-z0-9_] starting with a letter; the variables the host sets (see
	// ReservedEnv) are refused.
	Env map[string]string
	// Timeout bounds each invocation; 0 means 3 s (Lambda's default); at
	// most 15 min. An instance that exceeds it is killed.
	Timeout time.Duration
	// MemoryMB is reported to the function (AWS_LAMBDA_FUNCTION_MEMORY_SIZE)
	// and not enforced; 0 means 128; 128 to 10240.
	MemoryMB int
	// Concurrency is the maximum number of instances; 0 means 4; at most
	// 1000.
	Concurrency int
	// QueueSize is how many requests may wait for an instance once
	// Concurrency are busy; 0 means 64, negative means none. A request
	// beyond it is answered TooManyRequestsException.
	QueueSize int
	// QueueTimeout is how long a request waits for an instance before it
	// is answered TooManyRequestsException; 0 means 10 s.
	QueueTimeout time.Duration
	// ExecutionRole is the IAM role ARN whose credentials (from
	// Config.Credentials) instances get; "" means none.
	ExecutionRole string
	// URL gives the function a function URL of auth type NONE on Handler,
	// at FunctionURLPrefix + Name + "/": any request there, unauthenticated,
	// invokes the function with a function URL event (the function checks
	// the caller itself).
	URL bool
}

// Limits and defaults, Lambda's where Lambda has one.
const (
	defaultRegion       = "us-east-1"
	defaultAccount      = "000000000000"
	defaultTimeout      = 3 * time.Second
	maxTimeout          = 15 * time.Minute
	defaultMemoryMB     = 128
	defaultConcurrency  = 4
	maxConcurrency      = 1000
	defaultQueueSize    = 64
	defaultQueueTimeout = 10 * time.Second

	// MaxSyncPayload is the largest RequestResponse payload and the largest
	// function response (6 MB).
	MaxSyncPayload = 6 << 20
	// MaxAsyncPayload is the largest Event payload (256 KB).
	MaxAsyncPayload = 256 << 10

	// initTimeout bounds an instance's start, from process start to its
	// first /next (Lambda's init phase limit).
	initTimeout = 10 * time.Second
	// asyncQueueLength bounds each function's queue of Event invocations.
	asyncQueueLength = 256
	// credentialMargin: an instance whose credentials expire sooner than
	// this is replaced before its next invocation.
	credentialMargin = 5 * time.Minute
	// sourceCheckInterval bounds how often a Package's sources are checked
	// for changes.
	sourceCheckInterval = time.Second
)

// ReservedEnv are the variables the host sets itself; Function.Env may not
// name them (Lambda reserves the same names).
var ReservedEnv = []string{
	"_HANDLER", "_X_AMZN_TRACE_ID", "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID",
	"AWS_DEFAULT_REGION", "AWS_EXECUTION_ENV", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
	"AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_VERSION",
	"AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME",
	"AWS_LAMBDA_LOG_STREAM_NAME", "AWS_LAMBDA_RUNTIME_API", "AWS_REGION",
	"AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "LAMBDA_RUNTIME_DIR",
	"LAMBDA_TASK_ROOT", "TZ",
}

var (
	functionNamePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	envKeyPattern       = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]+$`)
	accountPattern      = regexp.MustCompile(`^[0-9]{12}$`)
	regionPattern       = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)
	roleARNPattern      = regexp.MustCompile(`^arn:aws[a-zA-Z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]{1,512}$`)
)

// settings is a Function with defaults applied and paths made absolute.
type settings struct {
	Function
	queueSize int // 0 when there is no queue
}

// validate checks the configuration, every problem reported together, and
// returns the functions with defaults applied. It does no I/O.
func (cfg *Config) validate() (region, account string, fns []settings, err error) {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	region, account = cfg.Region, cfg.AccountID
	if region == "" {
		region = defaultRegion
	} else if !regionPattern.MatchString(region) {
		add("Region", "%q is not a region name such as us-east-1", cfg.Region)
	}
	if account == "" {
		account = defaultAccount
	} else if !accountPattern.MatchString(account) {
		add("AccountID", "%q is not 12 digits", cfg.AccountID)
	}
	seen := map[string]bool{}
	for i, f := range cfg.Functions {
		p := fmt.Sprintf("Functions[%d]", i)
		if !functionNamePattern.MatchString(f.Name) {
			add(p+".Name", "%q: want 1 to 64 of [A-Za-z0-9_-]", f.Name)
		} else if seen[f.Name] {
			add(p+".Name", "function %q is configured twice", f.Name)
		}
		seen[f.Name] = true
		if (f.Executable == "") == (f.Package == "") {
			add(p, "want exactly one of Executable and Package")
		}
		if len(f.Args) > 0 && f.Package != "" {
			add(p+".Args", "arguments are for an Executable; a Package's executable takes none")
		}
		if f.Executable != "" {
			abs, err := filepath.Abs(f.Executable)
			if err != nil {
				add(p+".Executable", "%v", err)
			}
			f.Executable = abs
		}
		if f.Package != "" {
			abs, err := filepath.Abs(f.Package)
			if err != nil {
				add(p+".Package", "%v", err)
			}
			f.Package = abs
			if cfg.StateDir == "" {
				add(p+".Package", "building a package needs Config.StateDir")
			}
		}
		if f.Handler == "" {
			f.Handler = "bootstrap"
		}
		for _, k := range slices.Sorted(maps.Keys(f.Env)) {
			switch {
			case !envKeyPattern.MatchString(k):
				add(p+".Env", "%q: want 2 or more of [A-Za-z0-9_], starting with a letter", k)
			case slices.Contains(ReservedEnv, k):
				add(p+".Env", "%s is set by the Lambda host", k)
			case strings.ContainsRune(f.Env[k], 0):
				add(p+".Env", "%s: a value may not contain NUL", k)
			}
		}
		switch {
		case f.Timeout == 0:
			f.Timeout = defaultTimeout
		case f.Timeout < time.Millisecond || f.Timeout > maxTimeout:
			add(p+".Timeout", "%v: want 1ms to 15m", f.Timeout)
		}
		switch {
		case f.MemoryMB == 0:
			f.MemoryMB = defaultMemoryMB
		case f.MemoryMB < 128 || f.MemoryMB > 10240:
			add(p+".MemoryMB", "%d: want 128 to 10240", f.MemoryMB)
		}
		switch {
		case f.Concurrency == 0:
			f.Concurrency = defaultConcurrency
		case f.Concurrency < 0 || f.Concurrency > maxConcurrency:
			add(p+".Concurrency", "%d: want 1 to %d", f.Concurrency, maxConcurrency)
		}
		s := settings{Function: f, queueSize: f.QueueSize}
		switch {
		case f.QueueSize == 0:
			s.queueSize = defaultQueueSize
		case f.QueueSize < 0:
			s.queueSize = 0
		}
		switch {
		case f.QueueTimeout == 0:
			s.QueueTimeout = defaultQueueTimeout
		case f.QueueTimeout < 0:
			add(p+".QueueTimeout", "%v: want a positive duration", f.QueueTimeout)
		}
		if f.ExecutionRole != "" {
			if !roleARNPattern.MatchString(f.ExecutionRole) {
				add(p+".ExecutionRole", "%q is not an IAM role ARN", f.ExecutionRole)
			}
			if cfg.Credentials == nil {
				add(p+".ExecutionRole", "naming an execution role needs Config.Credentials")
			}
		}
		fns = append(fns, s)
	}
	if err := errors.Join(errs...); err != nil {
		return "", "", nil, fmt.Errorf("runtime: invalid configuration:\n%w", err)
	}
	return region, account, fns, nil
}
