// Package bootstraptoken is the join token a new node presents: upstream's
// bootstrap token "<id>.<secret>" (6 and 16 characters of [a-z0-9]), kept
// in kube-system as a Secret named bootstrap-token-<id> of type
// bootstrap.kubernetes.io/token. The API server authenticates it as
// system:bootstrap:<id>, the bootstrap signer signs the cluster-info
// ConfigMap with it, and the agent uses it once to get its certificate.
package bootstraptoken

import (
	"crypto/rand"
	"fmt"
	"regexp"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Names and keys as upstream.
const (
	SecretPrefix = "bootstrap-token-"
	SecretType   = corev1.SecretType("bootstrap.kubernetes.io/token")
	UserPrefix   = "system:bootstrap:"
	// Group is the group of every bootstrap token user.
	Group = "system:bootstrappers"
	// NodeGroup is the extra group of skiff's node join tokens.
	NodeGroup = "system:bootstrappers:skiff:default-node-token"

	KeyID          = "token-id"
	KeySecret      = "token-secret"
	KeyExpiration  = "expiration"
	KeyDescription = "description"
	KeyAuthUsage   = "usage-bootstrap-authentication"
	KeySignUsage   = "usage-bootstrap-signing"
	KeyExtraGroups = "auth-extra-groups"

	// ClusterInfoNamespace/Name is the public ConfigMap with the cluster's
	// CA and address; its "kubeconfig" entry is signed with every token
	// under JWSKeyPrefix+<id>.
	ClusterInfoNamespace = "kube-public"
	ClusterInfoName      = "cluster-info"
	KubeconfigKey        = "kubeconfig"
	JWSKeyPrefix         = "jws-kubeconfig-"
)

var tokenRE = regexp.MustCompile(`^([a-z0-9]{6})\.([a-z0-9]{16})$`)

// Parse splits a token into its id and secret.
func Parse(token string) (id, secret string, err error) {
	m := tokenRE.FindStringSubmatch(strings.TrimSpace(token))
	if m == nil {
		return "", "", fmt.Errorf("the token does not have the form [a-z0-9]{6}.[a-z0-9]{16}")
	}
	return m[1], m[2], nil
}

// Generate makes a random token.
func Generate() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 22)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b[:6]) + "." + string(b[6:])
}

// Secret is the Secret that makes token valid for authentication and
// signing, for ttl (0: never expires), with the node join group.
func Secret(token string, ttl time.Duration, description string) (*corev1.Secret, error) {
	id, secret, err := Parse(token)
	if err != nil {
		return nil, err
	}
	data := map[string][]byte{
		KeyID: []byte(id), KeySecret: []byte(secret),
		KeyAuthUsage: []byte("true"), KeySignUsage: []byte("true"),
		KeyExtraGroups: []byte(NodeGroup),
	}
	if description != "" {
		data[KeyDescription] = []byte(description)
	}
	if ttl > 0 {
		data[KeyExpiration] = []byte(time.Now().Add(ttl).UTC().Format(time.RFC3339))
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: SecretPrefix + id, Namespace: metav1.NamespaceSystem},
		Type:       SecretType, Data: data,
	}, nil
}

// Valid returns the token's id and secret when sec is a bootstrap token
// Secret usable for usage (KeyAuthUsage or KeySignUsage) at now.
func Valid(sec *corev1.Secret, usage string, now time.Time) (id, secret string, ok bool) {
	if sec.Type != SecretType || sec.DeletionTimestamp != nil || !strings.HasPrefix(sec.Name, SecretPrefix) {
		return "", "", false
	}
	d := sec.Data
	id, secret = string(d[KeyID]), string(d[KeySecret])
	if sec.Name != SecretPrefix+id || !tokenRE.MatchString(id+"."+secret) || string(d[usage]) != "true" || Expired(sec, now) {
		return "", "", false
	}
	return id, secret, true
}

// Expired says whether the token's expiration has passed (an unreadable
// expiration counts as passed).
func Expired(sec *corev1.Secret, now time.Time) bool {
	exp := string(sec.Data[KeyExpiration])
	if exp == "" {
		return false
	}
	t, err := time.Parse(time.RFC3339, exp)
	return err != nil || now.After(t)
}

// ExtraGroups are the valid extra groups the token's user gets.
func ExtraGroups(sec *corev1.Secret) []string {
	var out []string
	for _, g := range strings.Split(string(sec.Data[KeyExtraGroups]), ",") {
		if g = strings.TrimSpace(g); strings.HasPrefix(g, Group+":") {
			out = append(out, g)
		}
	}
	return out
}
