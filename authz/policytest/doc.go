// Package policytest reads and runs policy test suites: YAML files of named
// principals and cases, each a request and the decision expected for it,
// which `gatehouse policy test` runs like a test suite, in CI for example.
//
//	config: gatehouse.yaml            # optional: the configuration under test
//	principals:
//	  alice: {subject: <oid>, tenant: <tid>, kind: user, groups: [<group id>]}
//	cases:
//	  - name: alice invokes hello
//	    principal: alice
//	    action: invoke                # "" means invoke
//	    resource: function:hello
//	    expect: allow                 # allow or deny
//	    expect_role: reader           # optional
//	    expect_policies: [engineering-readers/reader]   # optional, any order
//
// In: the file's bytes (Parse), then an *authz.Engine built from the
// configuration under test (Suite.Run). Out: a *Suite, or an error that
// lists every problem of the file at once, each a *Problem naming file,
// line, column and field; then one Result per case, in order: its name,
// the decision, and, when the case fails, why (on a wrong verdict, with
// the decision's reason).
//
// Decoding is strict at every depth: an unknown or duplicate key, a value
// of the wrong kind, a second YAML document, anchors, aliases and tags are
// problems, so that a typo never silently drops a case or an expectation.
// A case that names an undefined principal, or has a malformed resource or
// expect, fails when run, beside the others.
//
// Left to others: reading the file and the configuration it names
// (Suite.Config is relative to the file; the caller resolves and loads
// it), building the engine (gatehouse/build), printing the results and
// choosing an exit code (gatehouse/cli).
package policytest
