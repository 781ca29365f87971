package mountinfo

import (
	"slices"
	"strings"
	"testing"
)

const table = `22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
40 22 0:35 / /var/lib/skiff/agent/pods/u1/volumes/tmp rw shared:20 - tmpfs tmpfs rw
41 40 0:36 / /var/lib/skiff/agent/pods/u1/volumes/tmp/sub rw shared:21 - tmpfs tmpfs rw
42 22 0:37 / /var/lib/skiff/agent/pods/u1/with\040space rw shared:22 - tmpfs tmpfs rw
43 22 0:38 / /var/lib/skiff/agentx rw shared:23 - tmpfs tmpfs rw
44 22 0:38 / /var/lib/skiff/agent/pods/u1/volumes/tmp rw shared:24 - tmpfs tmpfs rw
garbage
`

func TestUnder(t *testing.T) {
	for _, tc := range []struct {
		dir  string
		want []string
	}{
		// Deepest first, each once, escapes undone, no sibling prefix match.
		{"/var/lib/skiff/agent", []string{"/var/lib/skiff/agent/pods/u1/volumes/tmp/sub", "/var/lib/skiff/agent/pods/u1/volumes/tmp", "/var/lib/skiff/agent/pods/u1/with space"}},
		{"/var/lib/skiff/agent/", []string{"/var/lib/skiff/agent/pods/u1/volumes/tmp/sub", "/var/lib/skiff/agent/pods/u1/volumes/tmp", "/var/lib/skiff/agent/pods/u1/with space"}},
		{"/var/lib/skiff/agent/pods/u1/volumes/tmp", []string{"/var/lib/skiff/agent/pods/u1/volumes/tmp/sub", "/var/lib/skiff/agent/pods/u1/volumes/tmp"}},
		{"/nothing", nil},
	} {
		got, err := under(strings.NewReader(table), tc.dir)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("under(%q) = %q, %v; want %q", tc.dir, got, err, tc.want)
		}
	}
}

func FuzzUnescape(f *testing.F) {
	for _, s := range []string{`a\040b`, `\`, `\04`, `\777x`, "plain"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !strings.Contains(s, `\`) && unescape(s) != s {
			t.Fatalf("unescape changed %q without escapes", s)
		}
		_ = unescape(s)
	})
}
