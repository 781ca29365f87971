package bootstraptoken

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
)

// Sign signs payload with a bootstrap token, as the
// cluster-info ConfigMap's jws-kubeconfig-<id> entries are signed: a
// compact HS256 JWS whose key is the token ("<id>.<secret>") and whose
// payload part is left out ("header..signature").
func Sign(payload []byte, tokenID, tokenSecret string) string {
	header, _ := json.Marshal(map[string]string{"alg": "HS256", "kid": tokenID})
	h := base64.RawURLEncoding.EncodeToString(header)
	p := base64.RawURLEncoding.EncodeToString(payload)
	mac := hmac.New(sha256.New, []byte(tokenID+"."+tokenSecret))
	mac.Write([]byte(h + "." + p))
	return h + ".." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// Verify checks a detached HS256 JWS over payload made with
// the bootstrap token tokenID.tokenSecret.
func Verify(sig string, payload []byte, tokenID, tokenSecret string) bool {
	h, mac64, ok := strings.Cut(sig, "..")
	if !ok {
		return false
	}
	header, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		return false
	}
	var hd map[string]string
	if json.Unmarshal(header, &hd) != nil || hd["alg"] != "HS256" || hd["kid"] != tokenID {
		return false
	}
	got, err := base64.RawURLEncoding.DecodeString(mac64)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, []byte(tokenID+"."+tokenSecret))
	mac.Write([]byte(h + "." + base64.RawURLEncoding.EncodeToString(payload)))
	return hmac.Equal(got, mac.Sum(nil))
}
