package authz

import (
	"sync"

	"github.com/cedar-policy/cedar-go/types"
	"github.com/cedar-policy/cedar-go/x/exp/schema"
	"github.com/cedar-policy/cedar-go/x/exp/schema/validate"
)

// schemaText is the Cedar schema every policy, generated or raw, must fit.
// docs/policy.md documents it; TestSchemaDocumented keeps the two equal.
const schemaText = `// The gatehouse Cedar schema: what policies can read.
namespace Gatehouse {
  // A directory tenant (Entra tid).
  entity Tenant;
  // A group, by object id. A principal's groups are its parents, so
  // policies read: principal in Gatehouse::Group::"<object id>".
  entity Group;
  // A logical role from the configuration; context.role is the role tried.
  entity Role;

  // A person, by object id (Entra oid, else sub): delegated tokens.
  entity User in [Group] = {
    tenant: Tenant,              // "" id when the issuer names no tenant
    app: App,                    // the calling app (azp/appid)
    kind: String,                // "user"
    appRoles: Set<String>,       // roles claim
    scopes: Set<String>,         // scp claim
    groupsOverage: Bool,         // groups overflowed: membership unknown
  };
  // An application with no user (client credentials), by client id.
  entity App in [Group] = {
    tenant: Tenant,
    app: App,                    // itself
    kind: String,                // "app"
    appRoles: Set<String>,
    scopes: Set<String>,         // always empty
    groupsOverage: Bool,
  };

  // A function (Lambda or local), by name.
  entity Function = { name: String };
  // A gateway route, by route id.
  entity Route = { name: String };

  // The party acting for the principal: the current actor of an RFC 8693
  // act chain (via "act") or the calling app of a delegated token (via
  // "client").
  type Agent = {
    app: App,
    via: String,
  };
  type RequestContext = {
    role: Role,                  // the role being tried
    method: String,              // HTTP method, "" outside HTTP
    path: String,                // request path, "" outside HTTP
    sourceIp?: ipaddr,           // absent when unknown
    time: datetime,              // when the request was made
    agent?: Agent,               // absent when nobody acts for the principal
  };

  // invoke runs a function; read and write go through a route.
  action invoke, read, write appliesTo {
    principal: [User, App],
    resource: [Function, Route],
    context: RequestContext,
  };
}
`

// Schema returns the gatehouse Cedar schema (Cedar schema syntax): the
// entity types, attributes, context and actions that policies can use.
func Schema() string { return schemaText }

// Entity types and the action type of the schema.
const (
	typeTenant   types.EntityType = "Gatehouse::Tenant"
	typeGroup    types.EntityType = "Gatehouse::Group"
	typeRole     types.EntityType = "Gatehouse::Role"
	typeUser     types.EntityType = "Gatehouse::User"
	typeApp      types.EntityType = "Gatehouse::App"
	typeFunction types.EntityType = "Gatehouse::Function"
	typeRoute    types.EntityType = "Gatehouse::Route"
	typeAction   types.EntityType = "Gatehouse::Action"
)

// validator returns the schema validator (strict mode), built once.
var validator = sync.OnceValues(func() (*validate.Validator, error) {
	var s schema.Schema
	s.SetFilename("gatehouse.cedarschema")
	if err := s.UnmarshalCedar([]byte(schemaText)); err != nil {
		return nil, err
	}
	r, err := s.Resolve()
	if err != nil {
		return nil, err
	}
	return validate.New(r, validate.WithStrict()), nil
})
