package testkit_test

import (
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testkit"
)

func TestClock(t *testing.T) {
	start := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	c := testkit.NewClock(start)
	var now func() time.Time = c.Now // what a Config's Now field takes
	if got := now(); !got.Equal(start) {
		t.Fatalf("Now() = %v, want the start %v", got, start)
	}
	if got := now(); !got.Equal(start) {
		t.Fatalf("Now() = %v after a read; the clock moved by itself", got)
	}
	c.Add(90 * time.Second)
	if got, want := now(), start.Add(90*time.Second); !got.Equal(want) {
		t.Errorf("after Add(90s): %v, want %v", got, want)
	}
	c.Add(-time.Hour)
	if got, want := now(), start.Add(90*time.Second-time.Hour); !got.Equal(want) {
		t.Errorf("after Add(-1h): %v, want %v", got, want)
	}
	later := start.Add(48 * time.Hour)
	c.Set(later)
	if got := now(); !got.Equal(later) {
		t.Errorf("after Set: %v, want %v", got, later)
	}
}

// TestClockConcurrent: readers and writers on other goroutines, as the code
// under test reads the clock from its own (run with -race).
func TestClockConcurrent(t *testing.T) {
	start := time.Unix(0, 0)
	c := testkit.NewClock(start)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				c.Add(time.Second)
				_ = c.Now()
			}
		})
	}
	wg.Wait()
	if got, want := c.Now(), start.Add(800*time.Second); !got.Equal(want) {
		t.Errorf("after 800 concurrent Add(1s): %v, want %v", got, want)
	}
}
