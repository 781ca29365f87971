package celrules

import "testing"

func TestParseSemver(t *testing.T) {
	for _, tc := range []struct {
		in        string
		normalize bool
		want      string // "" for an error
	}{
		{"1.0.0", false, "1.0.0"},
		{"0.1.0-alpha.1", false, "0.1.0-alpha.1"},
		{"1.2.3+build.5", false, "1.2.3+build.5"},
		{"200K", false, ""},
		{"v1.0.0", false, ""},
		{"1.0", false, ""},
		{"v1.0.0", true, "1.0.0"},
		{"1.0", true, "1.0.0"},
		{"2", true, "2.0.0"},
		{"01.01.01", true, "1.1.1"},
		{"1.0-rc.1", true, ""}, // a short version has no pre-release
		{"1.2.00-rc.1", true, "1.2.0-rc.1"},
		{"Three", true, ""},
	} {
		v, err := parseSemver(tc.in, tc.normalize)
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("%q (normalize %v): parsed as %s, want an error", tc.in, tc.normalize, v)
		case tc.want != "" && (err != nil || v.String() != tc.want):
			t.Errorf("%q (normalize %v): %v %v, want %s", tc.in, tc.normalize, v, err, tc.want)
		}
	}
}
