package gateway

import (
	"net/http"

	"github.com/gatehouse-dev/gatehouse/pipeline"
)

// writeRefusal writes what the pipeline decided the caller gets instead of
// an answer (pipeline.Refuse maps every step's failure, once).
func writeRefusal(w http.ResponseWriter, ref *pipeline.Refusal) {
	h := w.Header()
	for k, v := range ref.Headers() {
		h.Set(k, v)
	}
	w.WriteHeader(ref.Status)
	w.Write(ref.Body())
}

// unavailable is the refusal of a request whose event the trail did not
// take: no response without a record (fail closed).
func unavailable(reqID string) *pipeline.Refusal {
	return &pipeline.Refusal{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable",
		Description: "the audit trail is unavailable", RetryAfter: 5, RequestID: reqID}
}
