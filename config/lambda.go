package config

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// DevLambda configures the local Lambda host of `gatehouse dev`: it runs
// unmodified function executables through the Lambda Runtime API and serves
// the Lambda Invoke API, SigV4-checked against the local STS.
type DevLambda struct {
	// Listen is host:port on loopback; "" means 127.0.0.1:9445.
	Listen string `yaml:"listen"`
	// Functions are the functions it hosts.
	Functions []DevFunction `yaml:"functions,omitempty"`
}

// DevFunction is one local function.
type DevFunction struct {
	// Name is the function name; required, unique ([A-Za-z0-9_-], at most 64).
	Name string `yaml:"name"`
	// Package is a Go package directory (relative to the configuration
	// file, or the working directory for the embedded configuration),
	// built with `go build` on start and when its sources change.
	Package string `yaml:"package,omitempty"`
	// Executable is a Lambda executable (bootstrap) to run instead.
	Executable string `yaml:"executable,omitempty"`
	// Builtin names one of the example functions gatehouse carries in its
	// own binary (BuiltinFunctions), run without Go or the source tree. A
	// function has exactly one of Package, Executable and Builtin.
	Builtin string `yaml:"builtin,omitempty"`
	// ExecutionRole is the role whose credentials the function gets, an
	// IAM role ARN; "" means none.
	ExecutionRole string `yaml:"execution_role,omitempty"`
	// Timeout is the function timeout; 0 means 3s (at most 15m).
	Timeout time.Duration `yaml:"timeout,omitempty"`
	// MemoryMB is reported to the function; 0 means 128.
	MemoryMB int `yaml:"memory_mb,omitempty"`
	// Concurrency is the maximum number of instances; 0 means 4.
	Concurrency int `yaml:"concurrency,omitempty"`
	// Env is extra environment for the function.
	Env map[string]string `yaml:"env,omitempty"`
	// URL gives the function a function URL of auth type NONE on the
	// local Lambda host, at <lambda endpoint>/lambda-url/<name>/: any
	// request there, unsigned, invokes the function with a Lambda function
	// URL event, as a real function URL would. Only for functions that
	// check their callers themselves (gatehouse/lambdaauth).
	URL bool `yaml:"url,omitempty"`
}

var functionNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func (v *validator) devLambda(d *DevLambda) {
	if msg := checkListen(d.Listen); msg != "" {
		v.add("dev.lambda.listen", "%s", msg)
	}
	seen := map[string]string{}
	for i, fn := range d.Functions {
		p := indexPath("dev.lambda.functions", i)
		if !functionNameRE.MatchString(fn.Name) {
			v.add(p+".name", "%s: want 1 to 64 letters, digits, '-' or '_'", short(fn.Name))
		}
		v.unique(seen, fn.Name, p+".name", "function")
		if n := count(fn.Package != "", fn.Executable != "", fn.Builtin != ""); n != 1 {
			v.add(p, "function %s needs exactly one of package, executable or builtin", short(fn.Name))
		}
		if fn.Builtin != "" && !slices.Contains(BuiltinFunctions, fn.Builtin) {
			v.add(p+".builtin", "%s: gatehouse carries %s", short(fn.Builtin), strings.Join(BuiltinFunctions, ", "))
		}
		if fn.ExecutionRole != "" && !roleARN.MatchString(fn.ExecutionRole) {
			v.add(p+".execution_role", "%s is not an IAM role ARN", short(fn.ExecutionRole))
		}
		if fn.Timeout < 0 || fn.Timeout > 15*time.Minute {
			v.add(p+".timeout", "must be at most 15m (Lambda's limit)")
		}
		if fn.MemoryMB < 0 || fn.MemoryMB > 10240 {
			v.add(p+".memory_mb", "must be between 128 and 10240")
		}
		if fn.Concurrency < 0 || fn.Concurrency > 1000 {
			v.add(p+".concurrency", "must be between 1 and 1000")
		}
		for k := range fn.Env {
			if k == "" || reservedEnv[k] {
				v.add(fmt.Sprintf("%s.env", p), "%s is set by the Lambda host", short(k))
			}
		}
	}
}

// BuiltinFunctions are the example functions the gatehouse binary carries
// (examples/functions), for dev.lambda.functions[].builtin.
var BuiltinFunctions = []string{"whoami", "echo", "protected"}

func count(bs ...bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

// reservedEnv are variables the Lambda host sets itself.
var reservedEnv = map[string]bool{
	"AWS_LAMBDA_RUNTIME_API": true, "AWS_LAMBDA_FUNCTION_NAME": true, "AWS_ACCESS_KEY_ID": true,
	"AWS_SECRET_ACCESS_KEY": true, "AWS_SESSION_TOKEN": true, "_HANDLER": true,
}
