// Package auditview is the auditor's view of the audit trail: a read-only
// web page over a store that is an audit.Browser (SQLite, PostgreSQL, a
// JSON-lines file read into memory).
//
// In: the store, a function that turns a user (a UPN, a name or an object
// id) into the pseudonyms the trail names them by, the client ids of known
// agents with their names, and the public keys checkpoints are signed
// with. Out: an http.Handler serving, under Config.Prefix,
//
//   - a timeline of events, newest first, filtered by user (turned into
//     pseudonyms on the server: the name is neither shown nor kept, and a
//     request naming a user is redirected to one naming its pseudonyms),
//     pseudonym, agent, route, role, decision and a bounded time window,
//     paged by keyset;
//   - charts, as SVG drawn on the server: decisions over time, and the
//     principals and agents most often denied;
//   - each event's full record with its place in its chain;
//   - the result of audit.Verify, run in the background when the view
//     starts and again on request (a POST), never per page view, shown
//     with its age;
//   - CSV and JSON-lines exports of what the filters select.
//
// Defences: GET only, except the re-verification POST, which
// http.CrossOriginProtection guards; a Host that is not a loopback
// address or localhost is refused (DNS rebinding); every response carries
// a Content-Security-Policy without script (the page has none),
// frame-ancestors 'none' and X-Frame-Options DENY, nosniff,
// Referrer-Policy no-referrer and Cache-Control no-store; every value is
// escaped by html/template; every input is bounded (lengths, counts, page
// size, time window); redirects go only to the view's own page; CSV cells
// that a spreadsheet would run as a formula are quoted.
//
// Left to others: listening (on loopback: the view has no sign-in yet),
// resolving users and agents from the configuration, and reading the
// keys (cli wires all three).
package auditview
