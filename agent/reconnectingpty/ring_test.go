package reconnectingpty

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		size   int
		writes []string
		want   string
	}{
		{name: "Empty", size: 4, want: ""},
		{name: "Partial", size: 8, writes: []string{"ab", "cd"}, want: "abcd"},
		{name: "ExactlyFull", size: 4, writes: []string{"ab", "cd"}, want: "abcd"},
		{name: "Wraps", size: 4, writes: []string{"abc", "def"}, want: "cdef"},
		{name: "WrapsTwice", size: 4, writes: []string{"abc", "def", "gh", "i"}, want: "fghi"},
		{name: "LargerThanBuffer", size: 4, writes: []string{"a", "bcdefgh"}, want: "efgh"},
		{name: "EmptyWrite", size: 4, writes: []string{"ab", "", "c"}, want: "abc"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRing(tc.size)
			for _, w := range tc.writes {
				r.Write([]byte(w))
			}
			require.Equal(t, tc.want, string(r.Bytes()))
		})
	}
}
