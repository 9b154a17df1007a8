package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/goccy/go-yaml"
	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/build"
	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/creds"
	"github.com/gatehouse-dev/gatehouse/internal/wildcard"
)

type awsTemplateOptions struct {
	configPath, stateDir string
	principal            string
	thumbprints          []string
	format               string
}

func newAWSTemplateCmd(e *env) *cobra.Command {
	var o awsTemplateOptions
	cmd := &cobra.Command{
		Use:   "template",
		Short: "Print the AWS side of the configuration as a CloudFormation template: gatehouse's IAM OIDC provider, the roles and their Lambda invoke permissions",
		Long: `template prints a CloudFormation template, generated from the configuration,
that creates what AWS needs for gatehouse's credentials:

  - the IAM OIDC provider for gatehouse's issuer (creds.issuer.url, client id
    sts.amazonaws.com; no thumbprint unless --thumbprint gives one);
  - one IAM role per distinct aws_role of authz.roles in broker mode, with
    the trust policy 'gatehouse aws trust-policy' prints for it (a role
    shared by several logical roles gets one statement for each);
  - each role's permission to invoke the functions its logical roles reach
    (lambda:InvokeFunction on their ARNs; "reports-*" becomes a wildcard ARN,
    an exact name also covers its versions and aliases).

Roles in assume_role mode are included when --principal names gatehouse's
own IAM role. Roles in web_identity mode are left out: their trust policy is
the only gate and should pin the callers' sub and azp, which the
configuration does not hold (docs/aws-setup.md, section 4). Each role left
out is named on standard error and in the template's Metadata.`,
		Example: `  gatehouse aws template --config gatehouse.yaml > gatehouse-aws.yaml
  gatehouse aws template --config gatehouse.yaml --format json --principal arn:aws:iam::123456789012:role/gatehouse-gateway`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runAWSTemplate(e, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.configPath, "config", "", "configuration file (default: the embedded development configuration)")
	f.StringVar(&o.stateDir, "state-dir", "", "state directory of 'gatehouse dev' (for dev issuer URLs)")
	f.StringVar(&o.principal, "principal", "", "assume_role mode: the ARN of gatehouse's own IAM role (roles in that mode are left out without it)")
	f.StringArrayVar(&o.thumbprints, "thumbprint", nil, "SHA-1 (40 hex digits) of the issuer host's top intermediate CA, for tooling that still asks for one (repeatable, at most 5)")
	formatFlag(cmd, f, &o.format, "format", "yaml", "yaml or json", "yaml", formatJSON)
	return cmd
}

func runAWSTemplate(e *env, o awsTemplateOptions) error {
	f, err := loadConfig(o.configPath)
	if err != nil {
		return err
	}
	t, err := awsTemplate(f, o)
	if err != nil {
		return err
	}
	for _, l := range t.leftOut {
		fmt.Fprintf(e.stderr, "aws template: role %s (%s) is not in the template: %s\n", l.Role, l.Mode, l.Reason)
	}
	return t.write(e.stdout, o.format)
}

// cfnTemplate is a CloudFormation template, its sections in the order
// they are written.
type cfnTemplate struct {
	AWSTemplateFormatVersion string       `json:"AWSTemplateFormatVersion"`
	Description              string       `json:"Description"`
	Metadata                 *cfnMetadata `json:"Metadata,omitempty"`
	Resources                cfnSection   `json:"Resources"`
	Outputs                  cfnSection   `json:"Outputs,omitempty"`

	leftOut []cfnLeftOut
}

type cfnMetadata struct {
	Gatehouse cfnGatehouse `json:"Gatehouse"`
}

// cfnGatehouse says what the template was generated from, and which
// roles it leaves out and why.
type cfnGatehouse struct {
	Issuer  string       `json:"Issuer,omitempty"`
	Account string       `json:"Account,omitempty"`
	LeftOut []cfnLeftOut `json:"LeftOut,omitempty"`
}

type cfnLeftOut struct {
	Role   string `json:"Role"`
	Mode   string `json:"Mode"`
	Reason string `json:"Reason"`
}

// cfnSection is a template section whose entries keep their order.
type cfnSection []cfnEntry

type cfnEntry struct {
	Name  string
	Value any
}

func (s cfnSection) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, e := range s {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(e.Name)
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(e.Value)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

type cfnResource struct {
	Type       string `json:"Type"`
	DependsOn  string `json:"DependsOn,omitempty"`
	Properties any    `json:"Properties"`
}

type cfnOIDCProvider struct {
	URL            string   `json:"Url"`
	ClientIDList   []string `json:"ClientIdList"`
	ThumbprintList []string `json:"ThumbprintList,omitempty"`
}

type cfnRole struct {
	RoleName                 string          `json:"RoleName"`
	Path                     string          `json:"Path,omitempty"`
	Description              string          `json:"Description"`
	MaxSessionDuration       int             `json:"MaxSessionDuration"`
	AssumeRolePolicyDocument json.RawMessage `json:"AssumeRolePolicyDocument"`
	Policies                 []cfnPolicy     `json:"Policies,omitempty"`
}

type cfnPolicy struct {
	PolicyName     string    `json:"PolicyName"`
	PolicyDocument policyDoc `json:"PolicyDocument"`
}

type policyDoc struct {
	Version   string            `json:"Version"`
	Statement []policyStatement `json:"Statement"`
}

type policyStatement struct {
	Effect   string   `json:"Effect"`
	Action   string   `json:"Action"`
	Resource []string `json:"Resource"`
}

type cfnOutput struct {
	Description string `json:"Description"`
	Value       any    `json:"Value"`
}

// providerID is the logical id of the IAM OIDC provider.
const providerID = "GatehouseOIDCProvider"

var thumbprintRE = regexp.MustCompile(`^[0-9a-fA-F]{40}$`)

// awsTemplate builds the template of f's roles. A role's trust policy is
// roleTrustPolicy's, as `aws trust-policy` prints it; its permissions are
// invokeResources'.
func awsTemplate(f *config.File, o awsTemplateOptions) (*cfnTemplate, error) {
	if len(o.thumbprints) > 5 {
		return nil, fmt.Errorf("--thumbprint: %d given; IAM keeps at most 5", len(o.thumbprints))
	}
	for _, tp := range o.thumbprints {
		if !thumbprintRE.MatchString(tp) {
			return nil, fmt.Errorf("--thumbprint %q: want the 40 hex digits of a SHA-1 fingerprint", tp)
		}
	}
	if o.principal != "" && !strings.HasPrefix(o.principal, "arn:") {
		return nil, fmt.Errorf("--principal %q: want the ARN of gatehouse's own IAM role", o.principal)
	}
	logical := map[string]config.Role{}
	for _, r := range f.AuthZ.Roles {
		logical[r.Name] = r
	}
	// One IAM role per distinct ARN, in the order authz.roles first names it.
	type iamRole struct {
		arn        string
		names      []string
		statements []json.RawMessage
		resources  []string
		duration   time.Duration
	}
	var roles []*iamRole
	byARN := map[string]*iamRole{}
	t := &cfnTemplate{AWSTemplateFormatVersion: "2010-09-09"}
	broker := false
	for _, r := range f.CredsRoles() {
		switch {
		case r.Mode == creds.ModeWebIdentity:
			t.leftOut = append(t.leftOut, cfnLeftOut{Role: r.Name, Mode: string(r.Mode), Reason: "its trust policy is the only gate and should pin the callers' sub and azp, " +
				"which the configuration does not hold, on an IAM OIDC provider for their Entra issuer: write it by hand from 'gatehouse aws trust-policy --role " + r.Name + "' (docs/aws-setup.md, section 4)"})
			continue
		case r.Mode == creds.ModeAssumeRole && o.principal == "":
			t.leftOut = append(t.leftOut, cfnLeftOut{Role: r.Name, Mode: string(r.Mode), Reason: "its trust policy names gatehouse's own IAM role: give it with --principal ARN"})
			continue
		}
		doc, err := roleTrustPolicy(f, r, o.stateDir, o.principal)
		if err != nil {
			return nil, fmt.Errorf("role %s: %w", r.Name, err)
		}
		var p struct{ Statement []json.RawMessage }
		if err := json.Unmarshal(doc, &p); err != nil {
			return nil, err
		}
		ir := byARN[r.ARN]
		if ir == nil {
			ir = &iamRole{arn: r.ARN}
			byARN[r.ARN] = ir
			roles = append(roles, ir)
		}
		ir.names = append(ir.names, r.Name)
		ir.statements = append(ir.statements, p.Statement...)
		ir.resources = append(ir.resources, invokeResources(f, logical[r.Name])...)
		ir.duration = max(ir.duration, r.Duration)
		broker = broker || r.Mode == creds.ModeBroker
	}
	if len(roles) == 0 {
		return nil, errors.New("no role to put in the template: none of authz.roles is in broker mode (or in assume_role mode, with --principal)")
	}
	issuer := ""
	if broker {
		// The URL the trust policies name (resolved the same way).
		issuer = f.Creds.Issuer.URL
		if issuer == "" {
			at, err := resolveAWSTarget(f, o.stateDir)
			if err != nil {
				return nil, fmt.Errorf("creds.issuer.url is not set and %w", err)
			}
			issuer = at.issuerURL
		}
		t.Resources = append(t.Resources, cfnEntry{providerID, cfnResource{Type: "AWS::IAM::OIDCProvider", Properties: cfnOIDCProvider{
			URL: issuer, ClientIDList: []string{creds.Audience}, ThumbprintList: o.thumbprints,
		}}})
		t.Outputs = append(t.Outputs, cfnEntry{"OIDCProviderArn", cfnOutput{
			Description: "The IAM OIDC provider of gatehouse's issuer", Value: map[string]string{"Ref": providerID}}})
	}
	account := build.ARNAccount(roles[0].arn)
	ids := map[string]bool{providerID: true}
	for _, ir := range roles {
		doc, err := json.Marshal(struct {
			Version   string            `json:"Version"`
			Statement []json.RawMessage `json:"Statement"`
		}{"2012-10-17", ir.statements})
		if err != nil {
			return nil, err
		}
		path, name := rolePath(ir.arn)
		role := cfnRole{
			RoleName: name, Path: path, AssumeRolePolicyDocument: doc,
			Description:        "gatehouse: logical role " + strings.Join(ir.names, ", "),
			MaxSessionDuration: maxSessionDuration(ir.duration),
		}
		if res := dedupe(ir.resources); len(res) > 0 {
			role.Policies = []cfnPolicy{{PolicyName: "gatehouse-invoke", PolicyDocument: policyDoc{
				Version: "2012-10-17", Statement: []policyStatement{{Effect: "Allow", Action: "lambda:InvokeFunction", Resource: res}},
			}}}
		}
		id := logicalID(build.RoleName(ir.arn), "Role", ids)
		res := cfnResource{Type: "AWS::IAM::Role", Properties: role}
		if broker {
			res.DependsOn = providerID
		}
		t.Resources = append(t.Resources, cfnEntry{id, res})
		t.Outputs = append(t.Outputs, cfnEntry{id + "Arn", cfnOutput{
			Description: "The IAM role of gatehouse's logical role " + strings.Join(ir.names, ", "),
			Value:       map[string][]string{"Fn::GetAtt": {id, "Arn"}}}})
	}
	t.Description = "gatehouse's AWS side, generated from its configuration: "
	if issuer != "" {
		t.Description += "the IAM OIDC provider of gatehouse's issuer " + issuer + ", and "
	}
	t.Description += "the IAM roles of authz.roles in account " + account + " with their trust policies and Lambda invoke permissions"
	t.Metadata = &cfnMetadata{cfnGatehouse{Issuer: issuer, Account: account, LeftOut: t.leftOut}}
	return t, nil
}

// invokeResources are the function ARNs role reaches: each of its
// functions patterns in the region and account session policies name
// (build.FunctionARN), an exact name also with ":*" for its versions and
// aliases (a session policy names the qualified ARN), and the ARN of each
// route that names a function it reaches by an ARN outside them.
func invokeResources(f *config.File, role config.Role) []string {
	var out []string
	for _, fn := range role.Functions {
		arn := build.FunctionARN(f, fn)
		out = append(out, arn)
		if !strings.HasSuffix(fn, "*") {
			out = append(out, arn+":*")
		}
	}
	local := strings.TrimSuffix(build.FunctionARN(f, "x"), "x")
	for _, rt := range f.Gateway.Routes {
		if !strings.HasPrefix(rt.Function, "arn:") || strings.HasPrefix(rt.Function, local) || (rt.Role != "" && rt.Role != role.Name) {
			continue
		}
		name := config.FunctionName(rt.Function)
		if slices.ContainsFunc(role.Functions, func(p string) bool { return wildcard.Match(p, name) }) {
			out = append(out, rt.Function)
		}
	}
	return out
}

func dedupe(s []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// rolePath splits an IAM role ARN's resource into the role's path ("" for
// the default "/") and its name.
func rolePath(arn string) (path, name string) {
	full := build.RoleName(arn)
	i := strings.LastIndexByte(full, '/')
	if i < 0 {
		return "", full
	}
	return "/" + full[:i+1], full[i+1:]
}

// maxSessionDuration is the role's MaxSessionDuration in seconds: the
// longest session its logical roles ask for, within IAM's 1 to 12 hours.
func maxSessionDuration(d time.Duration) int {
	s := int((d + time.Second - 1) / time.Second)
	return min(max(s, 3600), 43200)
}

// logicalID is a CloudFormation logical id (alphanumeric) made of name's
// words and suffix, not yet in taken.
func logicalID(name, suffix string, taken map[string]bool) string {
	var b strings.Builder
	for _, w := range strings.FieldsFunc(name, func(r rune) bool { return r > unicode.MaxASCII || !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		b.WriteString(strings.ToUpper(w[:1]) + w[1:])
	}
	base := b.String() + suffix
	id := base
	for n := 2; taken[id]; n++ {
		id = fmt.Sprintf("%s%d", base, n)
	}
	taken[id] = true
	return id
}

// templateHeader heads the YAML form.
const templateHeader = `# gatehouse's AWS side, generated by 'gatehouse aws template' from the
# configuration: generate it again when authz.roles, creds or the routes
# change, rather than editing it.
`

func (t *cfnTemplate) write(w io.Writer, format string) error {
	doc, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return err
	}
	if format == formatJSON {
		_, err = fmt.Fprintf(w, "%s\n", doc)
		return err
	}
	y, err := yaml.JSONToYAML(doc)
	if err != nil {
		return err
	}
	_, err = io.WriteString(w, templateHeader+string(y))
	return err
}
