// Package requestid carries gatehouse's request id in a context: the front
// door that made the id puts it there, and the log handler of the
// command (telemetry.LogHandler) reads it, so that every log line of a
// request names its request, whichever step writes it.
package requestid

import "context"

type key struct{}

// With returns ctx carrying the request id.
func With(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, key{}, id)
}

// From returns the request id ctx carries, or "".
func From(ctx context.Context) string {
	id, _ := ctx.Value(key{}).(string)
	return id
}
