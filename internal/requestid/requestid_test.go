package requestid

import (
	"context"
	"testing"
)

func TestWithFrom(t *testing.T) {
	if got := From(context.Background()); got != "" {
		t.Errorf("From(Background) = %q, want none", got)
	}
	ctx := With(context.Background(), "req-1")
	if got := From(ctx); got != "req-1" {
		t.Errorf("From = %q, want req-1", got)
	}
	if got := From(With(ctx, "req-2")); got != "req-2" {
		t.Errorf("inner id: From = %q, want req-2", got)
	}
}
