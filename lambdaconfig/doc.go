// Package lambdaconfig builds a lambdaauth.Config from gatehouse's YAML
// configuration file, so that a function, an authorizer and the gateway can
// share one file format (and one policy).
//
// In: the file (Load, or Parse for one embedded in the binary) and Options
// (where relative paths start, key snapshots, secrets supplied by code, the
// development IdP, a base AWS configuration). Out: a lambdaauth.Config, or
// an error listing every problem: the file's own (config.Parse: strict
// decoding, file:line:field) and those of using it in a function.
//
// It builds with gatehouse/build, the builder `gatehouse serve` and
// `gatehouse dev` use too, so a function, an authorizer and the gateway
// decide a route on the same resource (a qualified function, hello:prod,
// is decided as hello everywhere), and checks the file with
// config.ParseFor (where: lambda, or authorizer without credentials), so
// every problem is reported at once with its line.
//
// Sections read: authn (every issuer, converted by config.Issuer.Runtime),
// authz (roles, rules, agents, policy_files relative to the file), creds
// (mode per role, duration, session tags, sts endpoint and region), audit
// (sink, mode, claims, key_file, signing_key_file, replica) and
// gateway.routes (the API's routes, for an authorizer: method, path,
// function or route id, action, role). gateway's other fields and dev are
// ignored. What a function cannot do is refused with the reason: broker
// mode (it needs gatehouse's issuer key), an audit sink other than jsonl
// (a function writes JSON lines to standard output, which Lambda sends to
// CloudWatch Logs), and on_unavailable spool.
//
// Secrets come from files the configuration names (audit.key_file,
// audit.signing_key_file: in the deployment package or a mounted volume)
// unless Options supplies them as lambdaauth.Secret functions (such as a
// Secrets Manager read); never from environment variables.
//
// The Entra authority "dev" (gatehouse dev's IdP) resolves through
// Options.Dev or, failing that, DevFromEnv: GATEHOUSE_DEV_IDP names the
// IdP's URL, and its CA is GATEHOUSE_DEV_CA_FILE or else AWS_CA_BUNDLE,
// which `gatehouse dev` gives every function it runs. creds.sts.endpoint
// "dev" leaves the STS endpoint to the AWS SDK's own AWS_ENDPOINT_URL_STS,
// which `gatehouse dev` also sets.
//
// telemetry.tracing, when set, traces each invocation (lambdaauth.Config's
// Tracer, flushed before each invocation returns); its header references
// are read once, at init. Log lines of an invocation carry its request id
// and trace id.
//
// Left to others: running the pipeline (lambdaauth), validating the file
// (config), and fetching key snapshots (authn.FetchSnapshot).
package lambdaconfig
