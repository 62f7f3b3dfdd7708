package nilcheck

import (
	"io"
	"testing"
)

type impl struct{}

func (*impl) Read([]byte) (int, error) { return 0, io.EOF }

func TestIsNil(t *testing.T) {
	var p *impl
	var r io.Reader = p
	var f func()
	var m map[string]int
	for _, tc := range []struct {
		v    any
		want bool
	}{
		{nil, true}, {r, true}, {p, true}, {f, true}, {m, true}, {[]byte(nil), true},
		{&impl{}, false}, {0, false}, {"", false}, {struct{}{}, false},
	} {
		if got := IsNil(tc.v); got != tc.want {
			t.Errorf("IsNil(%#v) = %v", tc.v, got)
		}
	}
}
