// Package build turns a checked configuration file (config.File) into the
// built parts of the pipeline: the verifier, the policy, the credential
// broker, the audit trail, and the routes as policy sees them. It is the
// one builder for `gatehouse serve`, `gatehouse dev`, configuration reload
// and Lambda functions (gatehouse/lambdaconfig), so the places a
// configuration runs cannot drift apart.
//
// In: a File from config.Parse or config.Load (defaults applied, Validate
// and CheckFor passed), and Options for what the file cannot say: the
// directory its relative paths start from, what the development authority
// "dev" resolves to, the state directory of `gatehouse dev`. Out: the
// steps' runtime Configs and built parts. Unlike config, it does I/O: it
// reads Cedar files, CA files and keys, opens audit stores and makes AWS
// clients.
//
// Left to others: the front doors (gateway, lambdaauth) and their targets,
// which cli and lambdaconfig wire from these parts.
package build
