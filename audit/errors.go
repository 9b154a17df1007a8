package audit

import (
	"errors"
	"fmt"
)

var (
	// ErrChainBroken is wrapped by every *ChainError: the stored trail is
	// not what the recorders wrote.
	ErrChainBroken = errors.New("audit: chain broken")

	// ErrUnavailable is returned by Recorder.Record when the event cannot
	// be stored and the Recorder fails closed: the caller refuses the
	// request (the gateway answers 503).
	ErrUnavailable = errors.New("audit: trail unavailable")

	// ErrUnsupported is wrapped by a Sink method the sink cannot perform.
	ErrUnsupported = errors.New("audit: not supported by this sink")

	// ErrClosed is returned by Record after Close.
	ErrClosed = errors.New("audit: recorder closed")
)

// ChainError names the first place where Verify found the trail differs
// from what was written. It wraps ErrChainBroken.
type ChainError struct {
	Chain string // the chain (writer) id; "" if the row could not be read
	// Seq is the sequence number where the chain breaks: the edited event,
	// the first missing one, or the one out of place.
	Seq int64
	// Position is the sink position (row id, or line number) of the row
	// where the break shows; 0 for a problem with a checkpoint alone.
	Position int64
	Reason   string // what is wrong, in words
}

func (e *ChainError) Error() string {
	if e.Position > 0 {
		return fmt.Sprintf("audit: chain %q broken at seq %d (position %d): %s", e.Chain, e.Seq, e.Position, e.Reason)
	}
	return fmt.Sprintf("audit: chain %q broken at seq %d: %s", e.Chain, e.Seq, e.Reason)
}

// Unwrap makes errors.Is(err, ErrChainBroken) true.
func (e *ChainError) Unwrap() error { return ErrChainBroken }
