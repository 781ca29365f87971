package helper

import (
	"reflect"
	"testing"

	"skiff/internal/scheduler/framework"
)

func TestDefaultNormalizeScore(t *testing.T) {
	tests := []struct {
		name    string
		in      []int64
		reverse bool
		want    []int64
	}{
		{name: "scaled to max", in: []int64{1, 2, 4}, want: []int64{25, 50, 100}},
		{name: "reversed", in: []int64{1, 2, 4}, reverse: true, want: []int64{75, 50, 0}},
		{name: "all zero", in: []int64{0, 0}, want: []int64{0, 0}},
		{name: "all zero reversed", in: []int64{0, 0}, reverse: true, want: []int64{100, 100}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			scores := make([]framework.NodeScore, len(tt.in))
			for i, s := range tt.in {
				scores[i].Score = s
			}
			DefaultNormalizeScore(framework.MaxNodeScore, tt.reverse, scores)
			got := make([]int64, len(scores))
			for i, s := range scores {
				got[i] = s.Score
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
