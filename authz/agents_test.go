package authz

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/authn"
)

// actFor is a user's principal in a token an agent obtained through RFC
// 8693 token exchange: the agent is the current actor of the act chain.
func actFor(agent string, p *authn.Principal) *authn.Principal {
	p.App = agent
	p.Actors = []authn.Actor{{Subject: "agent-sp-" + agent[:8], App: agent, Via: authn.ActorViaAct}}
	return p
}

// TestDecideAgents: a request an agent makes for a user is allowed only if
// the user is allowed and the agent's own entry allows it.
func TestDecideAgents(t *testing.T) {
	e := mustNew(t, sampleConfig())
	agentPolicy := "agent/" + appReportAgent
	deepChain := actFor(appReportAgent, user(userBob, groupFinance))
	deepChain.Actors = append(deepChain.Actors, authn.Actor{Subject: "someone", App: appRogueAgent, Via: authn.ActorViaAct})
	noClientID := actFor(appReportAgent, user(userBob, groupFinance))
	noClientID.Actors[0] = authn.Actor{Subject: appReportAgent, Via: authn.ActorViaAct}
	runDecide(t, e, []decideCase{
		// act chain, declared agent.
		{name: "act chain: user and agent allowed", p: actFor(appReportAgent, user(userBob, groupFinance)), r: invoke("reports-daily"),
			allow: true, role: "reader", policies: []string{"allow-finance/reader"}, reason: "agent " + appReportAgent + " acts within its declared reach"},
		{name: "act chain: agent allowed, user not", p: actFor(appReportAgent, user(userBob)), r: invoke("reports-daily"),
			policies: []string{}, reason: "no rule grants"},
		{name: "act chain: user allowed, action outside the agent's", p: actFor(appReportAgent, user(userBob, groupFinance)), r: route(ActionRead, "reports"),
			policies: []string{agentPolicy}, reason: "agent " + appReportAgent + " may not read route reports: it is outside the agent's declared reach"},
		{name: "act chain: user allowed, function outside the agent's", p: actFor(appReportAgent, withRoles(user(userAlice, groupAdmins), "Functions.Admin")),
			r: from(invoke("payroll-run"), "10.0.0.1"), policies: []string{agentPolicy}, reason: "outside the agent's declared reach"},
		{name: "act chain: admin limited to the agent's subset", p: actFor(appReportAgent, withRoles(user(userAlice, groupAdmins), "Functions.Admin")),
			r: from(invoke("reports-daily"), "10.0.0.1"), allow: true, role: "admin"},
		{name: "act chain: only the current actor counts (RFC 8693 4.1)", p: deepChain, r: invoke("reports-daily"), allow: true, role: "reader"},
		{name: "act chain: agent named by sub when it has no client_id", p: noClientID, r: invoke("reports-daily"), allow: true, role: "reader"},
		// act chain, undeclared agent: fail closed.
		{name: "act chain: undeclared agent", p: actFor(appRogueAgent, user(userBob, groupFinance)), r: invoke("reports-daily"),
			policies: []string{"agent/undeclared"}, reason: "agent " + appRogueAgent + " acts for the principal through an act chain but is not declared in agents"},
		{name: "act chain: undeclared agent, even for an admin", p: actFor(appRogueAgent, withRoles(user(userAlice, groupAdmins), "Functions.Admin")),
			r: from(invoke("reports-daily"), "10.0.0.1"), policies: []string{"agent/undeclared"}},
		// The calling app of a delegated (on-behalf-of) token.
		{name: "declared client agent: within its reach", p: withApp(user(userBob, groupFinance), appReportAgent), r: invoke("reports-daily"),
			allow: true, role: "reader", reason: "acts within its declared reach"},
		{name: "declared client agent: outside its reach", p: withApp(user(userBob, groupFinance), appReportAgent), r: route(ActionRead, "reports"),
			policies: []string{agentPolicy}, reason: "outside the agent's declared reach"},
		{name: "undeclared client app: the user's rights", p: user(userBob, groupFinance), r: route(ActionRead, "reports"),
			allow: true, role: "reader"},
		{name: "undeclared client app: not an agent", p: withApp(user(userBob, groupFinance), appAPI), r: route(ActionRead, "reports"),
			allow: true, role: "reader"},
	})
}

// TestDecideNoAgentsDeclared: with no agents declared, every act chain is
// denied and delegated clients act with the user's rights.
func TestDecideNoAgentsDeclared(t *testing.T) {
	cfg := sampleConfig()
	cfg.Agents = nil
	e := mustNew(t, cfg)
	runDecide(t, e, []decideCase{
		{name: "act chain denied", p: actFor(appReportAgent, user(userBob, groupFinance)), r: invoke("reports-daily"),
			policies: []string{"agent/undeclared"}},
		{name: "delegated client allowed", p: withApp(user(userBob, groupFinance), appReportAgent), r: route(ActionRead, "reports"),
			allow: true, role: "reader"},
	})
}
