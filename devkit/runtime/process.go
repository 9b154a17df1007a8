package runtime

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// instance is one process of a function (Lambda's execution environment)
// with its own Runtime API listener on 127.0.0.1.
type instance struct {
	f           *function
	id          string // 32 hex digits, the end of the log stream name
	gen         int    // build generation it runs
	credsExpire time.Time
	started     time.Time
	cmd         *exec.Cmd
	rapi        *runtimeServer
	logR, logW  *os.File // output pipe; the host keeps a write end for log markers

	work     chan *invocation // capacity 1
	ready    chan struct{}    // closed at the first GET /next
	dead     chan struct{}    // closed when retired
	logsDone chan struct{}    // closed when the output pipe is drained

	logs instanceLog

	// under function.mu
	state        state
	cur          *invocation // the invocation delivered, until the next /next
	parked       bool        // a GET /next is waiting
	orphan       bool        // its starter left: hand it to the pool when ready
	served       int
	initDuration time.Duration
	initErr      *functionError // from POST /init/error
	exitMsg      string
}

// spawn starts a process for the function: execution-role credentials,
// a Runtime API listener, the output pipe, the process in its own process
// group. The caller holds a slot.
func (f *function) spawn(ctx context.Context) (*instance, error) {
	h := f.h
	f.mu.Lock()
	gen := f.gen
	f.mu.Unlock()
	inst := &instance{
		f:        f,
		id:       randomHex(16),
		gen:      gen,
		work:     make(chan *invocation, 1),
		ready:    make(chan struct{}),
		dead:     make(chan struct{}),
		logsDone: make(chan struct{}),
		state:    stateStarting,
	}
	inst.logs.setup()

	var creds aws.Credentials
	if role := f.cfg.ExecutionRole; role != "" {
		cctx, cancel := context.WithTimeout(ctx, initTimeout)
		c, err := h.credentials(cctx, role, f.name)
		cancel()
		if err != nil {
			return nil, newError(CodeService, "Lambda was unable to get credentials for the function's execution role.").withCause(err)
		}
		creds = c
		if c.CanExpire {
			inst.credsExpire = c.Expires
		}
	}

	exe := f.cfg.Executable
	if f.src != nil {
		exe = f.src.bin
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, newError(CodeService, "The local Lambda host could not listen for the Runtime API.").withCause(err)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		_ = ln.Close()
		return nil, newError(CodeService, "The local Lambda host could not create an output pipe.").withCause(err)
	}
	inst.rapi = newRuntimeServer(ln, inst)
	cmd := exec.Command(exe)
	if f.src == nil {
		cmd.Args = append(cmd.Args, f.cfg.Args...)
	}
	cmd.Dir = filepath.Dir(exe)
	cmd.Env = f.environ(ln.Addr().String(), inst.id, creds)
	cmd.Stdout, cmd.Stderr = pw, pw
	setProcessGroup(cmd)
	inst.started = time.Now()
	if err := cmd.Start(); err != nil {
		_ = ln.Close()
		_ = pr.Close()
		_ = pw.Close()
		h.log.Error("runtime: cannot start the function's executable", "function", f.name, "error", err.Error())
		return nil, &functionError{Type: "Runtime.InvalidEntrypoint", Message: "The function's executable could not be started; see the host log."}
	}
	inst.cmd, inst.logR, inst.logW = cmd, pr, pw

	f.mu.Lock()
	ok := !f.closed && h.track(3)
	if ok {
		f.instances[inst] = struct{}{}
	}
	f.mu.Unlock()
	if !ok {
		inst.kill()
		_ = cmd.Wait()
		_ = ln.Close()
		_ = pr.Close()
		_ = pw.Close()
		return nil, hostClosed()
	}
	go func() {
		defer h.wg.Done()
		inst.rapi.serve(&h.wg)
	}()
	go inst.readLogs()
	go inst.wait()
	h.log.Debug("runtime: instance started", "function", f.name, "instance", inst.id, "runtime_api", ln.Addr().String())
	return inst, nil
}

// environ is the process environment: what Lambda sets, then
// Function.Env. Nothing is inherited from the host but PATH, so no secret
// of the host's environment reaches a function; the AWS SDKs are pointed
// away from the developer's shared config and credential files and from
// the EC2 instance metadata service (Env may point them elsewhere).
func (f *function) environ(runtimeAPI, instanceID string, creds aws.Credentials) []string {
	h := f.h
	path := os.Getenv("PATH")
	if path == "" {
		path = "/usr/local/bin:/usr/bin:/bin"
	}
	dir := filepath.Dir(f.cfg.Executable)
	if f.src != nil {
		dir = filepath.Dir(f.src.bin)
	}
	env := map[string]string{
		"PATH":                            path,
		"LANG":                            "en_US.UTF-8",
		"TZ":                              ":UTC",
		"AWS_LAMBDA_RUNTIME_API":          runtimeAPI,
		"AWS_LAMBDA_FUNCTION_NAME":        f.name,
		"AWS_LAMBDA_FUNCTION_VERSION":     latest,
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": strconv.Itoa(f.cfg.MemoryMB),
		"AWS_LAMBDA_INITIALIZATION_TYPE":  "on-demand",
		"AWS_LAMBDA_LOG_GROUP_NAME":       "/aws/lambda/" + f.name,
		"AWS_LAMBDA_LOG_STREAM_NAME":      h.now().UTC().Format("2006/01/02") + "/[" + latest + "]" + instanceID,
		"AWS_REGION":                      h.region,
		"AWS_DEFAULT_REGION":              h.region,
		"_HANDLER":                        f.cfg.Handler,
		"LAMBDA_TASK_ROOT":                dir,
		"LAMBDA_RUNTIME_DIR":              dir,
		"AWS_CONFIG_FILE":                 os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE":     os.DevNull,
		"AWS_EC2_METADATA_DISABLED":       "true",
	}
	if creds.AccessKeyID != "" {
		env["AWS_ACCESS_KEY_ID"] = creds.AccessKeyID
		env["AWS_ACCESS_KEY"] = creds.AccessKeyID
		env["AWS_SECRET_ACCESS_KEY"] = creds.SecretAccessKey
		if creds.SessionToken != "" {
			env["AWS_SESSION_TOKEN"] = creds.SessionToken
		}
	}
	maps.Copy(env, f.cfg.Env) // reserved keys were refused by New
	out := make([]string, 0, len(env))
	for _, k := range slices.Sorted(maps.Keys(env)) {
		out = append(out, k+"="+env[k])
	}
	return out
}

// wait reaps the process and retires the instance: an invocation it was
// running gets Runtime.ExitError.
func (inst *instance) wait() {
	f := inst.f
	defer f.h.wg.Done()
	err := inst.cmd.Wait()
	msg := exitMessage(err)
	f.mu.Lock()
	inst.exitMsg = msg
	unexpected := f.retireLocked(inst, outcome{fe: &functionError{Type: "Runtime.ExitError", Message: msg}})
	f.mu.Unlock()
	killProcessGroup(inst.cmd.Process) // children it left behind
	_ = inst.logW.Close()
	inst.rapi.close()
	if unexpected {
		f.h.log.Warn("runtime: instance exited", "function", f.name, "instance", inst.id, "status", msg)
	} else {
		f.h.log.Debug("runtime: instance stopped", "function", f.name, "instance", inst.id)
	}
}

// kill kills the instance's process group; wait reaps it.
func (inst *instance) kill() {
	if inst.cmd != nil && inst.cmd.Process != nil {
		killProcessGroup(inst.cmd.Process)
	}
}

// initFailure is the error of an instance that died before its first
// GET /next: the runtime's own /init/error body, or its exit.
func (inst *instance) initFailure() error {
	f := inst.f
	inst.awaitLogs()
	f.mu.Lock()
	closed, fe, msg := f.closed, inst.initErr, inst.exitMsg
	f.mu.Unlock()
	if closed {
		return hostClosed()
	}
	if fe == nil {
		if msg == "" {
			msg = "Runtime exited before it was ready"
		}
		fe = &functionError{Type: "Runtime.ExitError", Message: msg}
	}
	fe.log = inst.logs.init.last()
	f.h.log.Warn("runtime: instance failed to initialise", "function", f.name, "instance", inst.id, "error_type", fe.Type)
	return fe
}

func exitMessage(err error) string {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return "Runtime exited without providing a reason"
	case errors.As(err, &ee):
		return "Runtime exited with error: " + ee.ProcessState.String()
	}
	return "Runtime exited with error: " + err.Error()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
