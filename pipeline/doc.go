// Package pipeline runs the five steps for one request, for every front
// door: authn (token → Principal), authz (Principal × action × resource →
// Decision), creds (the decided role → short-lived AWS credentials), the
// front door's own target (step 4), and audit (one event, whatever
// happened).
//
// In: a Pipeline built once from the steps' built parts (Config), and per
// request a Request: what any front door can say of it (the bearer token
// or why there is none, the route's action, resource and limits, the
// request id, method, path and client address). Out: a Call, which holds
// the Principal, the Decision and the audit event as the steps fill it;
// Credentials obtains the role's session (at once, or when a handler first
// needs it); Finish records the event with the status the caller got.
// Run does it all in order around an Invoker.
//
// One place, Refuse, turns any step's failure into what the caller gets: a
// status, an RFC 6750 challenge, a public code and description (which never
// echo what the caller sent), and the event's check and error class.
//
// Left to others: turning a front door's input into a Request (the bearer
// token taken from an HTTP header or a Lambda event), matching routes, the
// target itself (gateway: invoke's Lambda and HTTP targets; lambdaauth: the
// wrapped handler), and writing a Refusal in the front door's own response
// shape.
package pipeline
