package invoke

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-lambda-go/events"
)

// EnvelopeKey is the key of gatehouse's envelope in
// requestContext.authorizer.lambda.
const EnvelopeKey = "gatehouse"

// EnvelopeVersion is the version of the Envelope shape built here. A
// change that removes or retypes a field gets a new version; fields may be
// added within a version.
const EnvelopeVersion = 1

// Envelope is gatehouse's typed, versioned account of who is calling, at
// requestContext.authorizer.lambda["gatehouse"]. Unlike the JWT claims
// (flattened to strings the way API Gateway does it), its lists are real
// JSON arrays, never null: an empty list is [].
//
// Identity is (Issuer, Tenant, Principal); display claims (name, email,
// upn) are not in it, and policy should not key on them.
type Envelope struct {
	Version int `json:"version"`
	// Principal is the subject: Entra's oid, else sub.
	Principal string   `json:"principal"`
	Issuer    string   `json:"issuer"`
	Tenant    string   `json:"tenant"`
	Kind      string   `json:"kind"` // "user" or "app"
	App       string   `json:"app"`  // the calling client's id
	Groups    []string `json:"groups"`
	// GroupsOverage says the issuer left the groups out: membership is
	// unknown, not empty.
	GroupsOverage bool     `json:"groups_overage"`
	Roles         []string `json:"roles"`
	Scopes        []string `json:"scopes"`
	// Agents is who acts for the principal, current actor first.
	Agents []Agent `json:"agents"`
	// Role is the logical role gatehouse granted; RoleSession the STS
	// session (assumed-role ARN) whose credentials made this call.
	Role        string   `json:"role"`
	RoleSession string   `json:"role_session"`
	Policies    []string `json:"policies"` // ids of the deciding policies
	RequestID   string   `json:"request_id"`
}

// Agent is one party acting for the principal.
type Agent struct {
	Subject string `json:"sub"`
	Issuer  string `json:"iss,omitempty"`
	App     string `json:"app,omitempty"`
	// Via says where the agent was read: "act" (an RFC 8693 act claim) or
	// "client" (the client of a delegated token).
	Via string `json:"via"`
}

func newEnvelope(call Call) Envelope {
	p := call.Principal
	agents := make([]Agent, 0, len(p.Actors))
	for _, a := range p.Actors {
		agents = append(agents, Agent{Subject: a.Subject, Issuer: a.Issuer, App: a.App, Via: a.Via})
	}
	return Envelope{
		Version:       EnvelopeVersion,
		Principal:     p.Subject,
		Issuer:        p.Issuer,
		Tenant:        p.Tenant,
		Kind:          string(p.Kind),
		App:           p.App,
		Groups:        list(p.Groups),
		GroupsOverage: p.GroupsOverage,
		Roles:         list(p.Roles),
		Scopes:        list(p.Scopes),
		Agents:        agents,
		Role:          call.Role,
		RoleSession:   call.RoleSession,
		Policies:      list(call.Policies),
		RequestID:     call.RequestID,
	}
}

// list copies s, never nil, so the JSON is an array even when empty.
func list(s []string) []string {
	return append(make([]string, 0, len(s)), s...)
}

// ReadEnvelope returns gatehouse's envelope from an event, for functions
// behind gatehouse. It fails if the event has none or its version is not
// EnvelopeVersion.
func ReadEnvelope(ev *events.APIGatewayV2HTTPRequest) (*Envelope, error) {
	a := ev.RequestContext.Authorizer
	if a == nil || a.Lambda == nil {
		return nil, errors.New("invoke: the event has no gatehouse envelope")
	}
	v, ok := a.Lambda[EnvelopeKey]
	if !ok {
		return nil, errors.New("invoke: the event has no gatehouse envelope")
	}
	var env Envelope
	switch v := v.(type) {
	case Envelope:
		env = v
	case *Envelope:
		env = *v
	default: // decoded JSON
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("invoke: gatehouse envelope: %w", err)
		}
		if err := json.Unmarshal(b, &env); err != nil {
			return nil, fmt.Errorf("invoke: gatehouse envelope: %w", err)
		}
	}
	if env.Version != EnvelopeVersion {
		return nil, fmt.Errorf("invoke: gatehouse envelope version %d, want %d", env.Version, EnvelopeVersion)
	}
	return &env, nil
}

// FlattenClaim renders a decoded JSON claim value as API Gateway's JWT
// authorizer puts it in requestContext.authorizer.jwt.claims, where every
// value is a string: a string as itself, a number in decimal ("1710270238",
// never "1.71027e+09"), a boolean as "true" or "false", an array as its
// elements separated by spaces in brackets ("[a b]"), an object as
// "map[k1:v1 k2:v2]" with sorted keys, null inside an array or object as
// "<nil>". These are the forms functions behind API Gateway observe and
// have to parse back (Go's fmt rendering of the decoded token; see
// aws/aws-lambda-go issue 570 for objects), which is why gatehouse also
// sends the Envelope. BuildEvent leaves out a claim whose value is null.
func FlattenClaim(v any) string {
	var b strings.Builder
	flatten(&b, v)
	return b.String()
}

func flatten(b *strings.Builder, v any) {
	switch v := v.(type) {
	case nil:
		b.WriteString("<nil>")
	case string:
		b.WriteString(v)
	case bool:
		b.WriteString(strconv.FormatBool(v))
	case float64:
		b.WriteString(strconv.FormatFloat(v, 'f', -1, 64))
	case float32:
		b.WriteString(strconv.FormatFloat(float64(v), 'f', -1, 32))
	case json.Number:
		b.WriteString(string(v))
	case int:
		b.WriteString(strconv.Itoa(v))
	case int64:
		b.WriteString(strconv.FormatInt(v, 10))
	case []any:
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteByte(' ')
			}
			flatten(b, e)
		}
		b.WriteByte(']')
	case []string:
		b.WriteByte('[')
		b.WriteString(strings.Join(v, " "))
		b.WriteByte(']')
	case map[string]any:
		b.WriteString("map[")
		for i, k := range slices.Sorted(maps.Keys(v)) {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(k)
			b.WriteByte(':')
			flatten(b, v[k])
		}
		b.WriteByte(']')
	default:
		fmt.Fprint(b, v)
	}
}
