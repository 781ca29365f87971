package apiserver

import (
	"context"
	"crypto/subtle"
	"time"

	corev1 "k8s.io/api/core/v1"

	"skiff/internal/bootstraptoken"
)

// bootstrapTokenUser authenticates a bootstrap token against its Secret
// in kube-system.
func (s *Server) bootstrapTokenUser(ctx context.Context, token string) (User, bool) {
	id, secret, err := bootstraptoken.Parse(token)
	if err != nil {
		return User{}, false
	}
	sec, err := storedObject[*corev1.Secret](ctx, s, "secrets", "kube-system", bootstraptoken.SecretPrefix+id)
	if err != nil {
		return User{}, false
	}
	gotID, gotSecret, ok := bootstraptoken.Valid(sec, bootstraptoken.KeyAuthUsage, time.Now())
	if !ok || gotID != id || subtle.ConstantTimeCompare([]byte(gotSecret), []byte(secret)) != 1 {
		return User{}, false
	}
	groups := append([]string{bootstraptoken.Group}, bootstraptoken.ExtraGroups(sec)...)
	return User{Name: bootstraptoken.UserPrefix + id, Groups: groups}, true
}
