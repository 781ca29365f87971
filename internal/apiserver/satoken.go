package apiserver

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"skiff/internal/registry"
)

// Service account tokens are bound, expiring JWTs (ES256), issued through
// the TokenRequest API (serviceaccounts/token) and accepted as bearer
// tokens while the service account, and the pod they are bound to, exist.
const (
	// DefaultServiceAccountIssuer is upstream's usual issuer and audience.
	DefaultServiceAccountIssuer = "https://kubernetes.default.svc.cluster.local"
	saUserPrefix                = "system:serviceaccount:"
	saGroup                     = "system:serviceaccounts"
	minTokenSeconds             = 600
	defaultTokenSeconds         = 3600
)

// saClaims are the claims of a service account token, as upstream's.
type saClaims struct {
	jwt.RegisteredClaims
	Kubernetes kubernetesClaims `json:"kubernetes.io"`
}

type kubernetesClaims struct {
	Namespace      string           `json:"namespace"`
	ServiceAccount objRef           `json:"serviceaccount"`
	Pod            *objRef          `json:"pod,omitempty"`
	Secret         *objRef          `json:"secret,omitempty"`
	Node           *objRef          `json:"node,omitempty"`
	WarnAfter      *jwt.NumericDate `json:"warnafter,omitempty"`
}

type objRef struct {
	Name string `json:"name"`
	UID  string `json:"uid"`
}

// keyID is the JWKS key id of the signing key: the hash of its public
// key, as upstream derives it.
func keyID(key *ecdsa.PrivateKey) string {
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func (s *Server) issuer() string {
	if s.cfg.ServiceAccountIssuer != "" {
		return s.cfg.ServiceAccountIssuer
	}
	return DefaultServiceAccountIssuer
}

// serveTokenRequest answers POST serviceaccounts/<name>/token.
func (s *Server) serveTokenRequest(q *request) {
	tr, err := s.tokenRequest(q)
	if err != nil {
		s.writeError(q.w, q.r, err)
		return
	}
	s.writeObject(q, http.StatusCreated, tr)
}

func (s *Server) tokenRequest(q *request) (*authenticationv1.TokenRequest, error) {
	if s.cfg.ServiceAccountKey == nil {
		return nil, apierrors.NewServiceUnavailable("this server issues no service account tokens (no signing key)")
	}
	ctx := q.r.Context()
	info, _, err := requestSerializer(q.r)
	if err != nil {
		return nil, err
	}
	data, err := readBody(q)
	if err != nil {
		return nil, err
	}
	tr := &authenticationv1.TokenRequest{}
	want := authenticationv1.SchemeGroupVersion.WithKind("TokenRequest")
	if _, _, err := info.Serializer.Decode(data, &want, tr); err != nil {
		return nil, badRequest("error decoding TokenRequest: %v", err)
	}
	gk := want.GroupKind()
	spec := &tr.Spec
	if spec.ExpirationSeconds == nil {
		spec.ExpirationSeconds = ptr.To[int64](defaultTokenSeconds)
	}
	var errs field.ErrorList
	if e := *spec.ExpirationSeconds; e < minTokenSeconds {
		errs = append(errs, field.Invalid(field.NewPath("spec", "expirationSeconds"), e, "may not specify a duration less than 10 minutes"))
	} else if e > math.MaxUint32 {
		errs = append(errs, field.TooLong(field.NewPath("spec", "expirationSeconds"), e, math.MaxUint32))
	}
	if len(spec.Audiences) == 0 {
		spec.Audiences = []string{s.issuer()}
	}
	if len(errs) > 0 {
		return nil, invalid(gk, q.name, errs)
	}
	sa, err := s.storedServiceAccount(ctx, q.namespace, q.name)
	if err != nil {
		return nil, err
	}
	tr.SetGroupVersionKind(want)
	if err := s.admitSubresourceCreate(ctx, q, tr); err != nil {
		return nil, err
	}
	now := time.Now()
	claims := saClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: s.issuer(), Subject: saUserPrefix + q.namespace + ":" + q.name, Audience: spec.Audiences,
			IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(time.Duration(*spec.ExpirationSeconds) * time.Second)),
			ID:        string(uuid.NewUUID()),
		},
		Kubernetes: kubernetesClaims{Namespace: q.namespace, ServiceAccount: objRef{Name: sa.Name, UID: string(sa.UID)}},
	}
	if ref := spec.BoundObjectRef; ref != nil {
		path := field.NewPath("spec", "boundObjectRef")
		switch ref.Kind {
		case "Pod":
			pod, err := s.storedPod(ctx, q.namespace, ref.Name)
			if err != nil {
				return nil, err
			}
			if ref.UID != "" && ref.UID != pod.UID {
				return nil, apierrors.NewConflict(registry.Lookup("", "v1", "pods").GroupResource(), ref.Name, fmt.Errorf("the UID in the bound object reference (%s) does not match the UID in record. The object might have been deleted and then recreated", ref.UID))
			}
			if pod.Spec.ServiceAccountName != "" && pod.Spec.ServiceAccountName != sa.Name {
				return nil, badRequest("cannot bind token to a pod running as a different service account")
			}
			claims.Kubernetes.Pod = &objRef{Name: pod.Name, UID: string(pod.UID)}
			if pod.Spec.NodeName != "" {
				claims.Kubernetes.Node = &objRef{Name: pod.Spec.NodeName}
			}
			ref.UID = pod.UID
		case "Secret":
			sec, err := storedObject[*corev1.Secret](ctx, s, "secrets", q.namespace, ref.Name)
			if err != nil {
				return nil, err
			}
			claims.Kubernetes.Secret = &objRef{Name: sec.Name, UID: string(sec.UID)}
			ref.UID = sec.UID
		default:
			return nil, invalid(gk, q.name, field.ErrorList{field.NotSupported(path.Child("kind"), ref.Kind, []string{"Pod", "Secret"})})
		}
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	tok.Header["kid"] = keyID(s.cfg.ServiceAccountKey)
	signed, err := tok.SignedString(s.cfg.ServiceAccountKey)
	if err != nil {
		return nil, err
	}
	tr.TypeMeta = metav1.TypeMeta{Kind: "TokenRequest", APIVersion: authenticationv1.SchemeGroupVersion.String()}
	tr.ObjectMeta = metav1.ObjectMeta{Name: sa.Name, Namespace: sa.Namespace, CreationTimestamp: metav1.NewTime(now)}
	tr.Status = authenticationv1.TokenRequestStatus{Token: signed, ExpirationTimestamp: metav1.NewTime(claims.ExpiresAt.Time)}
	return tr, nil
}

func (s *Server) storedServiceAccount(ctx context.Context, ns, name string) (*corev1.ServiceAccount, error) {
	return storedObject[*corev1.ServiceAccount](ctx, s, "serviceaccounts", ns, name)
}

// looksLikeJWT tells a JWT from the other bearer tokens.
func looksLikeJWT(token string) bool { return strings.Count(token, ".") == 2 }

// serviceAccountUser authenticates a service account token: signed by
// this cluster's key, for its issuer and audience, not expired, and its
// service account (and bound pod or secret) still the same objects.
func (s *Server) serviceAccountUser(ctx context.Context, token string) (User, bool) {
	key := s.cfg.ServiceAccountKey
	if key == nil {
		return User{}, false
	}
	claims := &saClaims{}
	_, err := jwt.ParseWithClaims(token, claims, func(*jwt.Token) (any, error) { return &key.PublicKey, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodES256.Alg()}), jwt.WithIssuer(s.issuer()), jwt.WithExpirationRequired())
	if err != nil {
		return User{}, false
	}
	if !slices.ContainsFunc(claims.Audience, func(a string) bool { return a == s.issuer() }) {
		return User{}, false
	}
	k := claims.Kubernetes
	sa, err := s.storedServiceAccount(ctx, k.Namespace, k.ServiceAccount.Name)
	if err != nil || string(sa.UID) != k.ServiceAccount.UID || sa.DeletionTimestamp != nil {
		return User{}, false
	}
	if k.Pod != nil {
		pod, err := s.storedPod(ctx, k.Namespace, k.Pod.Name)
		if err != nil || string(pod.UID) != k.Pod.UID || pod.DeletionTimestamp != nil && time.Now().After(pod.DeletionTimestamp.Time) {
			return User{}, false
		}
	}
	if k.Secret != nil {
		sec, err := storedObject[*corev1.Secret](ctx, s, "secrets", k.Namespace, k.Secret.Name)
		if err != nil || string(sec.UID) != k.Secret.UID {
			return User{}, false
		}
	}
	return User{Name: saUserPrefix + k.Namespace + ":" + k.ServiceAccount.Name, Groups: []string{saGroup, saGroup + ":" + k.Namespace}}, true
}
