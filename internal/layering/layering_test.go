package layering

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

// forbidden maps a package (and its sub-packages) to the gatehouse packages
// it must never depend on, even indirectly, with the reason.
var forbidden = map[string]map[string]string{
	"gatehouse/authn": {
		"gatehouse/": "authn is the first step: it depends on no other gatehouse package",
	},
	"gatehouse/authz": {
		"gatehouse/creds": "a decision never depends on how credentials are obtained", "gatehouse/invoke": "later step",
		"gatehouse/audit": "audit records decisions; it is not an input", "gatehouse/gateway": "entry point", "gatehouse/devkit": "development doubles",
		"gatehouse/config": "the runtime Config comes as a value",
	},
	"gatehouse/authz/policytest": {
		"gatehouse/build":    "the engine under test arrives as a value: building it from the configuration is the caller's",
		"gatehouse/pipeline": "a policy test asks the policy alone, not the whole request path",
		"gatehouse/cli":      "the command prints the results and picks the exit code; a suite runs without it",
	},
	"gatehouse/creds": {
		"gatehouse/telemetry": "steps and front doors use the OpenTelemetry API only: a program that traces nothing carries no SDK or exporter",
		"gatehouse/authz":     "the role arrives as a value", "gatehouse/invoke": "later step", "gatehouse/audit": "later step",
		"gatehouse/gateway": "entry point", "gatehouse/devkit": "development doubles", "gatehouse/config": "the runtime Config comes as a value",
	},
	"gatehouse/mint": {
		"gatehouse/creds": "creds imports mint to have broker-mode tokens signed: creds decides what a token says, mint signs it",
		"gatehouse/authz": "the role arrives as a value", "gatehouse/invoke": "invoke takes the assertion through the Asserter the caller wires",
		"gatehouse/audit": "later step", "gatehouse/pipeline": "the issuer is a part the steps use, not a step",
		"gatehouse/gateway": "entry point: it mounts the issuer's handler", "gatehouse/lambdaauth": "entry point",
		"gatehouse/config": "the runtime Config comes as a value", "gatehouse/cli": "wiring", "gatehouse/lambdaconfig": "wiring",
		"gatehouse/devkit": "development doubles: the local STS trusts the issuer over HTTP, as AWS does",
	},
	"gatehouse/invoke": {
		"gatehouse/telemetry": "steps and front doors use the OpenTelemetry API only: a program that traces nothing carries no SDK or exporter",
		"gatehouse/creds":     "credentials arrive as a value", "gatehouse/gateway": "entry point", "gatehouse/devkit": "development doubles",
		"gatehouse/mint": "the identity assertion arrives through the Asserter the caller wires",
	},
	"gatehouse/audit": {
		"gatehouse/telemetry": "steps and front doors use the OpenTelemetry API only: a program that traces nothing carries no SDK or exporter",
		"gatehouse/authn":     "an Event is plain data", "gatehouse/authz": "an Event is plain data", "gatehouse/creds": "an Event is plain data",
		"gatehouse/invoke": "an Event is plain data", "gatehouse/gateway": "entry point",
	},
	"gatehouse/auditview": {
		"gatehouse/config": "users, agents and keys arrive as values: reading the file is the caller's", "gatehouse/build": "the store and keys arrive built",
		"gatehouse/cli": "wiring", "gatehouse/pipeline": "the view reads the trail, never the request path", "gatehouse/gateway": "entry point",
		"gatehouse/devkit": "development doubles",
	},
	"gatehouse/config": {
		"gatehouse/cli": "config is data, wired by cli", "gatehouse/gateway": "entry point", "gatehouse/lambdaauth": "entry point",
		"gatehouse/devkit": "the file format never depends on the development doubles",
	},
	"gatehouse/pipeline": {
		"gatehouse/telemetry": "steps and front doors use the OpenTelemetry API only: a program that traces nothing carries no SDK or exporter",
		"gatehouse/gateway":   "front doors are adapters of the pipeline, never the reverse", "gatehouse/lambdaauth": "front doors are adapters of the pipeline, never the reverse",
		"gatehouse/config": "the pipeline takes built parts, not the file format", "gatehouse/build": "the builder makes the pipeline's parts",
		"gatehouse/cli": "wiring", "gatehouse/lambdaconfig": "wiring", "gatehouse/devkit": "development doubles",
	},
	"gatehouse/gateway": {
		"gatehouse/telemetry": "steps and front doors use the OpenTelemetry API only: a program that traces nothing carries no SDK or exporter",
		"gatehouse/config":    "the gateway takes built parts, not the file format", "gatehouse/build": "the gateway takes built parts", "gatehouse/cli": "wiring", "gatehouse/devkit": "development doubles",
		"gatehouse/lambdaauth": "front doors depend on the pipeline, never on each other",
	},
	"gatehouse/lambdaauth": {
		"gatehouse/telemetry": "steps and front doors use the OpenTelemetry API only: a program that traces nothing carries no SDK or exporter",
		"gatehouse/config":    "takes built parts", "gatehouse/build": "takes built parts", "gatehouse/cli": "wiring", "gatehouse/devkit": "development doubles",
		"gatehouse/lambdaconfig": "the YAML wiring depends on lambdaauth, never the reverse",
		"gatehouse/gateway":      "front doors depend on the pipeline, never on each other",
	},
	"gatehouse/build": {
		"gatehouse/gateway": "the one builder serves every front door: it knows none", "gatehouse/lambdaauth": "the one builder serves every front door: it knows none",
		"gatehouse/cli": "wiring", "gatehouse/lambdaconfig": "wiring", "gatehouse/devkit": "development doubles",
	},
	"gatehouse/lambdaconfig": {
		"gatehouse/cli": "a function does not carry the command line", "gatehouse/gateway": "entry point",
		"gatehouse/devkit": "development doubles",
	},
	"gatehouse/secrets": {
		"gatehouse/config": "references arrive as Sources: which field names which is the builder's", "gatehouse/build": "the builder makes the Sources",
		"gatehouse/audit": "consumers subscribe; the store never knows them", "gatehouse/pipeline": "secrets are read by parts, not by a step",
		"gatehouse/gateway": "entry point", "gatehouse/lambdaauth": "entry point", "gatehouse/cli": "wiring", "gatehouse/devkit": "development doubles",
	},
	"gatehouse/telemetry": {
		"gatehouse/pipeline": "telemetry sets up the SDK; which spans exist is the steps' business", "gatehouse/gateway": "entry point", "gatehouse/lambdaauth": "entry point",
		"gatehouse/config": "the tracing's Config comes as a value", "gatehouse/build": "the builder makes the Config", "gatehouse/cli": "wiring",
		"gatehouse/authn": "steps use the OpenTelemetry API", "gatehouse/creds": "steps use the OpenTelemetry API", "gatehouse/invoke": "steps use the OpenTelemetry API",
		"gatehouse/audit": "steps use the OpenTelemetry API", "gatehouse/devkit": "development doubles",
	},
	"gatehouse/devkit": {
		"gatehouse/cli": "devkit is used as a user would use it", "gatehouse/gateway": "entry point", "gatehouse/lambdaauth": "entry point",
		"gatehouse/config": "devkit takes its own Config",
	},
}

// testOnly maps a package that only _test.go files may import to the
// reason. A non-test package depending on one, even indirectly, is an error.
var testOnly = map[string]string{
	"gatehouse/internal/testkit": "testkit is test plumbing (a fake clock, an issuer that signs whatever a test asks with keys it serves to anyone); " +
		"no binary or library may carry it",
	"gatehouse/devkit/internal/awsjson/awsjsontest": "the AWS JSON doubles' test fixture (a test STS and its sessions), built on testkit",
}

// mustExist lists packages that are built; the test fails if one goes away
// without this list being updated.
var mustExist = []string{"gatehouse/authn", "gatehouse/authz", "gatehouse/authz/policytest", "gatehouse/creds", "gatehouse/mint", "gatehouse/devkit/sts", "gatehouse/audit", "gatehouse/config", "gatehouse/cli", "gatehouse/devkit/idp", "gatehouse/devkit/devca", "gatehouse/cmd/gatehouse", "gatehouse/lambdaauth", "gatehouse/lambdaconfig", "gatehouse/pipeline", "gatehouse/build", "gatehouse/gateway", "gatehouse/secrets", "gatehouse/telemetry", "gatehouse/auditview"}

// module is the module path; the rules name packages by their path in the
// module, after "gatehouse/".
const module = "github.com/gatehouse-dev/gatehouse"

// short is an import path with the module path shortened to "gatehouse".
func short(path string) string {
	if rest, ok := strings.CutPrefix(path, module); ok && (rest == "" || rest[0] == '/') {
		return "gatehouse" + rest
	}
	return path
}

type pkg struct {
	ImportPath string
	Doc        string
	Name       string
	Deps       []string
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", module+"/...")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(out)
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		p.ImportPath = short(p.ImportPath)
		for i, d := range p.Deps {
			p.Deps[i] = short(d)
		}
		pkgs = append(pkgs, p)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("go list: %v", err)
	}
	return pkgs
}

func under(path, prefix string) bool {
	if strings.HasSuffix(prefix, "/") {
		return strings.HasPrefix(path, prefix)
	}
	return path == prefix || strings.HasPrefix(path, prefix+"/")
}

func TestLayering(t *testing.T) {
	pkgs := listPackages(t)
	seen := map[string]bool{}
	for _, p := range pkgs {
		seen[p.ImportPath] = true
		for owner, rules := range forbidden {
			if !under(p.ImportPath, owner) {
				continue
			}
			for _, dep := range p.Deps {
				for bad, why := range rules {
					if under(dep, bad) && !under(dep, owner) {
						t.Errorf("%s depends on %s: %s", p.ImportPath, dep, why)
					}
				}
			}
		}
	}
	for _, p := range pkgs {
		if _, ok := testOnly[p.ImportPath]; ok {
			continue // test plumbing may build on test plumbing
		}
		for _, dep := range p.Deps {
			if why, ok := testOnly[dep]; ok {
				t.Errorf("%s depends on %s, which only _test.go files may import: %s", p.ImportPath, dep, why)
			}
		}
	}
	for p := range testOnly {
		if !seen[p] {
			t.Errorf("package %s no longer exists: update testOnly", p)
		}
	}
	for _, p := range mustExist {
		if !seen[p] {
			t.Errorf("package %s no longer exists: update the layering rules", p)
		}
	}
}

func TestEveryPackageHasADocComment(t *testing.T) {
	for _, p := range listPackages(t) {
		if strings.TrimSpace(p.Doc) == "" {
			t.Errorf("package %s has no package doc comment (doc.go): say what goes in, what comes out, what is left to others", p.ImportPath)
		}
	}
}
