// Package deploy holds gatehouse's deployment manifests, the Helm chart
// helm/gatehouse, and the tests that check them: the chart is rendered by
// Helm itself (helm template, through go run of the Helm module) with
// several sets of values, and every rendered manifest is parsed and held
// to what a gatehouse deployment needs: probes on the admin listener, a
// non-root read-only pod, no secret in any manifest, a configuration
// `gatehouse serve` accepts, a disruption budget and an autoscaler that
// agree with the replicas. It has no code of its own. See
// docs/kubernetes.md.
package deploy
