package bootstraptoken

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

func TestDetachedJWS(t *testing.T) {
	payload := []byte("apiVersion: v1\nkind: Config\n")
	sig := Sign(payload, "abcdef", "0123456789abcdef")
	if !Verify(sig, payload, "abcdef", "0123456789abcdef") {
		t.Fatal("own signature refused")
	}
	for name, ok := range map[string]bool{
		"wrong secret":  Verify(sig, payload, "abcdef", "0123456789abcdeX"),
		"wrong payload": Verify(sig, append(payload, ' '), "abcdef", "0123456789abcdef"),
		"wrong id":      Verify(sig, payload, "abcdeg", "0123456789abcdef"),
		"garbage":       Verify("x..y", payload, "abcdef", "0123456789abcdef"),
	} {
		if ok {
			t.Errorf("%s verified", name)
		}
	}
}

func TestTokenSecret(t *testing.T) {
	tok := Generate()
	id, secret, err := Parse(tok)
	if err != nil {
		t.Fatal(err)
	}
	sec, err := Secret(tok, time.Hour, "test")
	if err != nil {
		t.Fatal(err)
	}
	if gid, gs, ok := Valid(sec, KeyAuthUsage, time.Now()); !ok || gid != id || gs != secret {
		t.Fatalf("Valid = %q %q %v", gid, gs, ok)
	}
	if _, _, ok := Valid(sec, KeyAuthUsage, time.Now().Add(2*time.Hour)); ok {
		t.Fatal("expired token valid")
	}
	if g := ExtraGroups(sec); len(g) != 1 || g[0] != NodeGroup {
		t.Fatalf("groups %v", g)
	}
	sec.Data[KeyExtraGroups] = []byte("system:masters," + NodeGroup)
	if g := ExtraGroups(sec); len(g) != 1 {
		t.Fatalf("a group outside system:bootstrappers: was granted: %v", g)
	}
	sec.Type = corev1.SecretTypeOpaque
	if _, _, ok := Valid(sec, KeyAuthUsage, time.Now()); ok {
		t.Fatal("an Opaque secret is a token")
	}
	for _, bad := range []string{"", "abc.def", "ABCDEF.0123456789abcdef", "abcdef.0123456789abcdeg0"} {
		if _, _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}
