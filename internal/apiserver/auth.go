package apiserver

import (
	"context"
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// User is an authenticated identity.
type User struct {
	Name   string
	Groups []string
}

type userKey struct{}

func withUser(ctx context.Context, u User) context.Context {
	return context.WithValue(ctx, userKey{}, u)
}

// UserFrom returns the request's user.
func UserFrom(ctx context.Context) User {
	u, _ := ctx.Value(userKey{}).(User)
	return u
}

// authenticate reads the user from a verified client certificate (CN is the
// user, O the groups) or from a bearer token.
func (s *Server) authenticate(r *http.Request) (User, bool) {
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.VerifiedChains[0]) > 0 {
		cert := r.TLS.VerifiedChains[0][0]
		groups := append([]string(nil), cert.Subject.Organization...)
		groups = append(groups, "system:authenticated")
		return User{Name: cert.Subject.CommonName, Groups: groups}, true
	}
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
		token := strings.TrimSpace(strings.TrimPrefix(h, "Bearer "))
		for t, u := range s.cfg.Tokens {
			if subtle.ConstantTimeCompare([]byte(t), []byte(token)) == 1 {
				u.Groups = append(append([]string(nil), u.Groups...), "system:authenticated")
				return u, true
			}
		}
		if looksLikeJWT(token) {
			if u, ok := s.serviceAccountUser(r.Context(), token); ok {
				u.Groups = append(u.Groups, "system:authenticated")
				return u, true
			}
		}
		if u, ok := s.bootstrapTokenUser(r.Context(), token); ok {
			u.Groups = append(u.Groups, "system:authenticated")
			return u, true
		}
	}
	return User{Name: "system:anonymous", Groups: []string{"system:unauthenticated"}}, false
}

func unauthorized() *apierrors.StatusError {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status:  metav1.StatusFailure,
		Message: "Unauthorized",
		Reason:  metav1.StatusReasonUnauthorized,
		Code:    http.StatusUnauthorized,
	}}
}

func requestTooLarge(limit int64) *apierrors.StatusError {
	return apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("limit is %d", limit))
}
