package agent

import "testing"

func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "a", "EMPTY": ""}
	lookup := func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	for in, want := range map[string]string{
		"plain":             "plain",
		"$(A)":              "a",
		"x$(A)y$(A)":        "xaya",
		"$(EMPTY)z":         "z",
		"$(MISSING)":        "$(MISSING)",
		"$$(A)":             "$(A)",
		"$$":                "$",
		"$":                 "$",
		"a$b":               "a$b",
		"$(A":               "$(A",
		"$(A)$(MISSING)$$x": "a$(MISSING)$x",
	} {
		if got := expand(in, lookup); got != want {
			t.Errorf("expand(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzExpand(f *testing.F) {
	for _, s := range []string{"$(A)", "$$(A)", "$(", "$", "x$(A)y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		// Without definitions only $$ changes anything.
		got := expand(s, func(string) (string, bool) { return "", false })
		if len(got) > len(s) {
			t.Fatalf("expand(%q) grew to %q", s, got)
		}
	})
}
