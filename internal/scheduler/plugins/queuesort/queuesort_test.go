package queuesort

import (
	"testing"
	"time"
)

func TestLess(t *testing.T) {
	t0 := time.Unix(100, 0)
	t1 := t0.Add(time.Second)
	tests := []struct {
		name string
		pa   int32
		ta   time.Time
		pb   int32
		tb   time.Time
		want bool
	}{
		{"higher priority first", 10, t1, 1, t0, true},
		{"lower priority later", 1, t0, 10, t1, false},
		{"same priority: earlier first", 5, t0, 5, t1, true},
		{"same priority: later after", 5, t1, 5, t0, false},
		{"equal is not less", 5, t0, 5, t0, false},
	}
	for _, tc := range tests {
		if got := Less(tc.pa, tc.ta, tc.pb, tc.tb); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
