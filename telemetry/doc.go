// Package telemetry builds gatehouse's OpenTelemetry tracing: New turns a
// Config (an OTLP exporter over HTTP or gRPC, its endpoint, headers and CA,
// a sampling ratio) into a Tracing, whose TracerProvider the pipeline and
// its front doors start their spans with; Shutdown flushes what is
// queued. It is the only package that knows the OpenTelemetry SDK: the
// steps use the OpenTelemetry API through the request's context, and do
// nothing when it carries no span.
//
// What it guarantees: spans are exported in the background, in batches,
// through a bounded queue (spans beyond it are dropped, never held), with
// bounded attributes; sampling is parent-based (a new trace is sampled at
// the ratio; a trace a trusted caller started keeps the caller's choice);
// export failures are logged, rate-limited, and never fail a request; the
// SDK's environment variables (OTEL_EXPORTER_OTLP_*) change neither where
// spans go, nor with which headers, nor which CAs are trusted; header
// values are read at each export, so a rotated secret is sent from the
// next export on, and are never logged. Exports are gzipped, except to a
// collector on a loopback address, where compression costs CPU and saves
// nothing.
//
// LogHandler adds to each log line of a request its request id
// (internal/requestid) and trace id, whichever package writes it.
//
// Left to others: which spans exist and what they say (pipeline, gateway,
// lambdaauth, invoke, authn, internal/awstrace), whether a caller's trace
// context is trusted (pipeline.Config.TrustIncoming), and reading the
// configuration file (build.Tracing).
package telemetry
