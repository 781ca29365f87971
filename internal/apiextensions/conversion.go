package apiextensions

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/transport"
	"k8s.io/utils/lru"

	"skiff/internal/apiserver/admission/webhook"
)

// ServiceAddressFunc resolves a Service to a host:port to dial, as the
// admission webhook plugin's Sources.ServiceAddress.
type ServiceAddressFunc func(ctx context.Context, namespace, name string, port int32) (string, error)

// SetServiceAddress sets how conversion webhooks given as a Service are
// reached (the resolver of the admission webhook plugin). Call it before
// Run.
func (c *Controller) SetServiceAddress(fn ServiceAddressFunc) { c.serviceAddress = fn }

// conversionTimeout bounds a conversion webhook call, as upstream's.
const conversionTimeout = 30 * time.Second

// conversionCacheSize bounds the converted objects kept per CRD.
const conversionCacheSize = 2048

// setConverter gives the served resources of crd a webhook converter when
// its conversion strategy is Webhook. All versions share one converter
// (and so one cache).
func (c *Controller) setConverter(crd *apiextensionsv1.CustomResourceDefinition, served []*Served) {
	conv := newWebhookConverter(crd, c.serviceAddress, c.metrics)
	if conv == nil {
		return
	}
	for _, s := range served {
		s.Resource.Strategy.Convert = conv.Convert
	}
}

// webhookConverter sends ConversionReviews to a CRD's conversion webhook
// and caches the converted objects.
type webhookConverter struct {
	clientConfig   admissionregistrationv1.WebhookClientConfig
	reviewVersion  string // v1 or v1beta1, the first of the CRD's list we speak
	serviceAddress ServiceAddressFunc
	timeout        time.Duration
	crdName        string
	metrics        *conversionMetrics

	mu       sync.Mutex
	client   *http.Client
	inflight map[conversionKey]chan struct{}
	cache    *conversionCache
}

// newWebhookConverter returns the converter of crd, nil unless its
// conversion strategy is Webhook with a client config.
func newWebhookConverter(crd *apiextensionsv1.CustomResourceDefinition, serviceAddress ServiceAddressFunc, metrics *conversionMetrics) *webhookConverter {
	conv := crd.Spec.Conversion
	if conv == nil || conv.Strategy != apiextensionsv1.WebhookConverter || conv.Webhook == nil || conv.Webhook.ClientConfig == nil {
		return nil
	}
	cc := conv.Webhook.ClientConfig
	out := &webhookConverter{
		clientConfig:   admissionregistrationv1.WebhookClientConfig{URL: cc.URL, CABundle: cc.CABundle},
		serviceAddress: serviceAddress,
		timeout:        conversionTimeout,
		crdName:        crd.Name,
		metrics:        metrics,
		cache:          newConversionCache(conversionCacheSize),
	}
	if s := cc.Service; s != nil {
		out.clientConfig.Service = &admissionregistrationv1.ServiceReference{Namespace: s.Namespace, Name: s.Name, Path: s.Path, Port: s.Port}
	}
	for _, v := range conv.Webhook.ConversionReviewVersions {
		if v == "v1" || v == "v1beta1" {
			out.reviewVersion = v
			break
		}
	}
	return out
}

// conversionReview is a ConversionReview of apiextensions.k8s.io v1 or
// v1beta1 (both have the same shape).
type conversionReview struct {
	metav1.TypeMeta `json:",inline"`
	Request         *apiextensionsv1.ConversionRequest  `json:"request,omitempty"`
	Response        *apiextensionsv1.ConversionResponse `json:"response,omitempty"`
}

// Convert converts objs to apiVersion through the webhook, answering from
// the cache the objects converted before; implements Strategy.Convert.
func (w *webhookConverter) Convert(objs []*unstructured.Unstructured, apiVersion string) ([]*unstructured.Unstructured, error) {
	if len(objs) == 0 {
		return nil, nil
	}
	out := make([]*unstructured.Unstructured, len(objs))
	var todo []*unstructured.Unstructured
	var at []int
	for i, u := range objs {
		if c := w.cache.get(u, apiVersion); c != nil {
			out[i] = c
			continue
		}
		todo = append(todo, u)
		at = append(at, i)
	}
	if len(todo) == 0 {
		return out, nil
	}
	if len(todo) == 1 {
		// Every watcher converts each event: the first one calls the
		// webhook, the others wait for its answer.
		if k, ok := cacheKey(todo[0], apiVersion); ok {
			done, first := w.join(k)
			if !first {
				<-done
				if c := w.cache.get(todo[0], apiVersion); c != nil {
					out[at[0]] = c
					return out, nil
				}
			} else {
				defer w.leave(k, done)
				// A call that ended since the lookup above cached it.
				if c := w.cache.get(todo[0], apiVersion); c != nil {
					out[at[0]] = c
					return out, nil
				}
			}
		}
	}
	converted, err := w.call(todo, apiVersion)
	if err != nil {
		return nil, err
	}
	for j, u := range converted {
		w.cache.put(todo[j], apiVersion, u)
		out[at[j]] = u
	}
	return out, nil
}

// join returns the channel closed when the conversion of k in flight ends,
// and whether the caller is the one to do it.
func (w *webhookConverter) join(k conversionKey) (chan struct{}, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if ch, ok := w.inflight[k]; ok {
		return ch, false
	}
	if w.inflight == nil {
		w.inflight = map[conversionKey]chan struct{}{}
	}
	ch := make(chan struct{})
	w.inflight[k] = ch
	return ch, true
}

func (w *webhookConverter) leave(k conversionKey, ch chan struct{}) {
	w.mu.Lock()
	delete(w.inflight, k)
	w.mu.Unlock()
	close(ch)
}

// call sends one ConversionReview and checks the answer as upstream does,
// recording the call in the metrics.
func (w *webhookConverter) call(objs []*unstructured.Unstructured, apiVersion string) ([]*unstructured.Unstructured, error) {
	gvk := objs[0].GroupVersionKind()
	if w.reviewVersion == "" {
		return nil, fmt.Errorf("conversion webhook for %v failed: no supported conversion review versions", gvk)
	}
	want, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return nil, err
	}
	began := time.Now()
	out, failure, err := w.checked(objs, want)
	w.metrics.observe(w.crdName, gvk.Version, want.Version, began, failure)
	return out, err
}

// checked is call without the metrics; failure is the metrics' failure
// type of an error.
func (w *webhookConverter) checked(objs []*unstructured.Unstructured, want schema.GroupVersion) (_ []*unstructured.Unstructured, failure string, _ error) {
	gvk := objs[0].GroupVersionKind()
	resp, failure, err := w.send(objs, want.String())
	if err != nil {
		return nil, failure, fmt.Errorf("conversion webhook for %v failed: %v", gvk, err)
	}
	if len(resp) != len(objs) {
		return nil, webhookPartialResponseFailure, fmt.Errorf("conversion webhook for %v returned %d objects, expected %d", gvk, len(resp), len(objs))
	}
	out := make([]*unstructured.Unstructured, len(objs))
	for i, raw := range resp {
		in := objs[i]
		// One object is reported as upstream reports a single object, the
		// objects of a list with their index.
		what, metaWhat := "invalid converted object at index "+fmt.Sprint(i), "invalid metadata in object at index "+fmt.Sprint(i)
		if len(objs) == 1 {
			what, metaWhat = "invalid object at index 0", "invalid metadata"
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(raw.Raw); err != nil {
			return nil, webhookInvalidObjectFailure, fmt.Errorf("conversion webhook for %v returned %s: %v", gvk, what, err)
		}
		if got := u.GroupVersionKind().GroupVersion(); got != want {
			return nil, webhookInvalidObjectFailure, fmt.Errorf("conversion webhook for %v returned %s: invalid groupVersion (expected %v, received %v)", gvk, what, want, got)
		}
		if e, a := in.GetKind(), u.GetKind(); e != a {
			return nil, webhookInvalidObjectFailure, fmt.Errorf("conversion webhook for %v returned %s: invalid kind (expected %v, received %v)", gvk, what, e, a)
		}
		if err := sameIdentity(in, u); err != nil {
			if len(objs) == 1 {
				what = "invalid object"
			}
			return nil, webhookInvalidObjectFailure, fmt.Errorf("conversion webhook for %v returned %s: %v", gvk, what, err)
		}
		if err := restoreMetadata(in, u); err != nil {
			return nil, webhookInvalidObjectFailure, fmt.Errorf("conversion webhook for %v returned %s: %v", gvk, metaWhat, err)
		}
		out[i] = u
	}
	return out, "", nil
}

// send posts the review and returns the converted objects of a successful
// answer, or the metrics' failure type and the error.
func (w *webhookConverter) send(objs []*unstructured.Unstructured, apiVersion string) ([]runtime.RawExtension, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), w.timeout)
	defer cancel()
	target, serverName, err := webhook.Target(ctx, w.clientConfig, w.serviceAddress)
	if err != nil {
		return nil, webhookCallFailure, err
	}
	uid := uuid.NewUUID()
	review := &conversionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "apiextensions.k8s.io/" + w.reviewVersion, Kind: "ConversionReview"},
		Request:  &apiextensionsv1.ConversionRequest{UID: uid, DesiredAPIVersion: apiVersion},
	}
	for _, u := range objs {
		b, err := u.MarshalJSON()
		if err != nil {
			return nil, webhookCallFailure, err
		}
		review.Request.Objects = append(review.Request.Objects, runtime.RawExtension{Raw: b})
	}
	body, err := json.Marshal(review)
	if err != nil {
		return nil, webhookCallFailure, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return nil, webhookCallFailure, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	res, err := w.httpClient(serverName).Do(req)
	if err != nil {
		return nil, webhookCallFailure, err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return nil, webhookCallFailure, err
	}
	if res.StatusCode != http.StatusOK {
		return nil, webhookCallFailure, fmt.Errorf("the server responded with HTTP %d: %s", res.StatusCode, bytes.TrimSpace(truncate(data, 512)))
	}
	var out conversionReview
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, webhookCallFailure, fmt.Errorf("decoding the ConversionReview: %v", err)
	}
	if w.reviewVersion == "v1" {
		// v1beta1 answers were never checked for kind or uid upstream.
		if got, want := out.GroupVersionKind(), apiextensionsv1.SchemeGroupVersion.WithKind("ConversionReview"); got != want {
			return nil, webhookMalformedResponseFailure, fmt.Errorf("expected webhook response of %v, got %v", want, got)
		}
	}
	if out.Response == nil {
		return nil, webhookMalformedResponseFailure, fmt.Errorf("no response provided")
	}
	if w.reviewVersion == "v1" && out.Response.UID != uid {
		return nil, webhookMalformedResponseFailure, fmt.Errorf("expected response.uid=%q, got %q", uid, out.Response.UID)
	}
	if out.Response.Result.Status != metav1.StatusSuccess {
		if out.Response.Result.Message != "" {
			return nil, webhookMalformedResponseFailure, fmt.Errorf("%s", out.Response.Result.Message)
		}
		return nil, webhookMalformedResponseFailure, fmt.Errorf("response.result.status was '%s', not 'Success'", out.Response.Result.Status)
	}
	return out.Response.ConvertedObjects, "", nil
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// httpClient returns the converter's client, made at first use and kept so
// that connections to the webhook are reused.
func (w *webhookConverter) httpClient(serverName string) *http.Client {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.client == nil {
		w.client = webhook.NewClient(w.clientConfig.CABundle, serverName, w.timeout)
		if t, ok := w.client.Transport.(*http.Transport); ok {
			// A converter is dropped when its CRD changes: let its idle
			// connections go.
			t.IdleConnTimeout = 90 * time.Second
		}
	}
	return w.client
}

// sameIdentity checks that a converted object is still the same object.
func sameIdentity(in, out *unstructured.Unstructured) error {
	if e, a := in.GetKind(), out.GetKind(); e != a {
		return fmt.Errorf("must have the same kind: %v != %v", e, a)
	}
	if e, a := in.GetName(), out.GetName(); e != a {
		return fmt.Errorf("must have the same name: %v != %v", e, a)
	}
	if e, a := in.GetNamespace(), out.GetNamespace(); e != a {
		return fmt.Errorf("must have the same namespace: %v != %v", e, a)
	}
	if e, a := in.GetUID(), out.GetUID(); e != a {
		return fmt.Errorf("must have the same UID: %v != %v", e, a)
	}
	return nil
}

// restoreMetadata puts the original metadata back into a converted object:
// a webhook may change labels and annotations only.
func restoreMetadata(in, out *unstructured.Unstructured) error {
	raw, ok := out.Object["metadata"]
	if !ok {
		return fmt.Errorf("missing metadata in converted object")
	}
	answered, ok := raw.(map[string]interface{})
	if !ok {
		return fmt.Errorf("invalid metadata of type %T in converted object", raw)
	}
	md := map[string]interface{}{}
	if orig, ok := in.Object["metadata"].(map[string]interface{}); ok {
		md = runtime.DeepCopyJSONValue(orig).(map[string]interface{})
	}
	for _, f := range []string{"labels", "annotations"} {
		v, ok := answered[f]
		if !ok || v == nil {
			delete(md, f)
			continue
		}
		m, ok := v.(map[string]interface{})
		if !ok {
			return fmt.Errorf("invalid metadata.%s of type %T in converted object", f, v)
		}
		strs := make(map[string]string, len(m))
		for k, val := range m {
			s, ok := val.(string)
			if !ok {
				return fmt.Errorf("metadata.%s[%s] must be a string, but is %T in converted object", f, k, val)
			}
			strs[k] = s
		}
		orig, _ := md[f].(map[string]interface{})
		if !reflect.DeepEqual(orig, m) {
			var errs field.ErrorList
			if f == "labels" {
				errs = metav1validation.ValidateLabels(strs, field.NewPath("metadata", "labels"))
			} else {
				errs = apimachineryvalidation.ValidateAnnotations(strs, field.NewPath("metadata", "annotations"))
			}
			if len(errs) > 0 {
				return errs.ToAggregate()
			}
		}
		md[f] = m
	}
	out.Object["metadata"] = md
	return nil
}

// conversionCache keeps converted objects by object UID, resourceVersion
// and target version: a stored object never changes at one
// resourceVersion, so its conversion does not either. An entry also keeps
// the object it was made from, and answers only for an equal one (objects
// being written carry the resourceVersion they were read at).
type conversionCache struct{ c *lru.Cache }

type conversionKey struct {
	uid             types.UID
	resourceVersion string
	apiVersion      string
}

type conversionEntry struct {
	src, out *unstructured.Unstructured
}

func newConversionCache(max int) *conversionCache {
	return &conversionCache{c: lru.New(max)}
}

func cacheKey(u *unstructured.Unstructured, apiVersion string) (conversionKey, bool) {
	k := conversionKey{uid: u.GetUID(), resourceVersion: u.GetResourceVersion(), apiVersion: apiVersion}
	return k, k.uid != "" && k.resourceVersion != ""
}

// get returns a copy of the cached conversion of u, or nil.
func (c *conversionCache) get(u *unstructured.Unstructured, apiVersion string) *unstructured.Unstructured {
	k, ok := cacheKey(u, apiVersion)
	if !ok {
		return nil
	}
	v, ok := c.c.Get(k)
	if !ok {
		return nil
	}
	// Entries are never changed once made.
	e := v.(*conversionEntry)
	if !reflect.DeepEqual(e.src.Object, u.Object) {
		return nil
	}
	return e.out.DeepCopy()
}

// put remembers the conversion of src (both are copied).
func (c *conversionCache) put(src *unstructured.Unstructured, apiVersion string, out *unstructured.Unstructured) {
	k, ok := cacheKey(src, apiVersion)
	if !ok {
		return
	}
	c.c.Add(k, &conversionEntry{src: src.DeepCopy(), out: out.DeepCopy()})
}

// acceptedReviewVersions are the ConversionReview versions the server
// speaks.
var acceptedReviewVersions = []string{"v1", "v1beta1"}

// validateConversion checks spec.conversion as upstream does, with
// upstream's field paths (those of its internal type: webhookClientConfig
// and conversionReviewVersions directly under conversion).
func validateConversion(conv *apiextensionsv1.CustomResourceConversion, old *apiextensionsv1.CustomResourceDefinition, p *field.Path) field.ErrorList {
	if conv == nil {
		return nil
	}
	var errs field.ErrorList
	strategies := []string{string(apiextensionsv1.NoneConverter), string(apiextensionsv1.WebhookConverter)}
	switch conv.Strategy {
	case "":
		errs = append(errs, field.Required(p.Child("strategy"), ""))
	case apiextensionsv1.NoneConverter, apiextensionsv1.WebhookConverter:
	default:
		errs = append(errs, field.NotSupported(p.Child("strategy"), conv.Strategy, strategies))
	}
	var cc *apiextensionsv1.WebhookClientConfig
	var reviewVersions []string
	if conv.Webhook != nil {
		cc, reviewVersions = conv.Webhook.ClientConfig, conv.Webhook.ConversionReviewVersions
	}
	ccPath := p.Child("webhookClientConfig")
	if conv.Strategy != apiextensionsv1.WebhookConverter {
		if cc != nil {
			errs = append(errs, field.Forbidden(ccPath, "should not be set when strategy is not set to Webhook"))
		}
		if len(reviewVersions) > 0 {
			errs = append(errs, field.Forbidden(p.Child("conversionReviewVersions"), "should not be set when strategy is not set to Webhook"))
		}
		return errs
	}
	switch {
	case cc == nil:
		errs = append(errs, field.Required(ccPath, "required when strategy is set to Webhook"))
	case (cc.URL == nil) == (cc.Service == nil):
		errs = append(errs, field.Required(ccPath, "exactly one of url or service is required"))
	case cc.URL != nil:
		errs = append(errs, validateWebhookURL(*cc.URL, ccPath.Child("url"))...)
	default:
		errs = append(errs, validateWebhookService(cc.Service, ccPath.Child("service"))...)
	}
	if cc != nil && len(cc.CABundle) > 0 && !allowInvalidCABundle(old) {
		if err := checkCABundle(cc.CABundle); err != nil {
			errs = append(errs, field.Invalid(ccPath.Child("caBundle"), cc.CABundle, err.Error()))
		}
	}
	return append(errs, validateReviewVersions(reviewVersions, p.Child("conversionReviewVersions"))...)
}

// checkCABundle reports whether a caBundle holds PEM certificates.
func checkCABundle(b []byte) error {
	_, err := transport.TLSConfigFor(&transport.Config{TLS: transport.TLSConfig{CAData: b}})
	return err
}

// allowInvalidCABundle lets an update keep an invalid caBundle while the
// CRD is not established yet or already had an invalid one, as upstream.
func allowInvalidCABundle(old *apiextensionsv1.CustomResourceDefinition) bool {
	if old == nil {
		return false
	}
	if !conditionTrue(old, apiextensionsv1.Established) {
		return true
	}
	c := old.Spec.Conversion
	if c == nil || c.Webhook == nil || c.Webhook.ClientConfig == nil || len(c.Webhook.ClientConfig.CABundle) == 0 {
		return false
	}
	return checkCABundle(c.Webhook.ClientConfig.CABundle) != nil
}

func validateReviewVersions(versions []string, p *field.Path) field.ErrorList {
	if len(versions) == 0 {
		return field.ErrorList{field.Required(p, "")}
	}
	var errs field.ErrorList
	seen := map[string]bool{}
	accepted := false
	for i, v := range versions {
		if seen[v] {
			errs = append(errs, field.Invalid(p.Index(i), v, "duplicate version"))
			continue
		}
		seen[v] = true
		for _, msg := range utilvalidation.IsDNS1035Label(v) {
			errs = append(errs, field.Invalid(p.Index(i), v, msg))
		}
		accepted = accepted || v == "v1" || v == "v1beta1"
	}
	if !accepted {
		errs = append(errs, field.Invalid(p, versions, "must include at least one of "+strings.Join(acceptedReviewVersions, ", ")))
	}
	return errs
}

func validateWebhookURL(raw string, p *field.Path) field.ErrorList {
	const form = "; desired format: https://host[/path]"
	u, err := url.Parse(raw)
	if err != nil {
		return field.ErrorList{field.Required(p, "url must be a valid URL: "+err.Error()+form)}
	}
	var errs field.ErrorList
	if u.Scheme != "https" {
		errs = append(errs, field.Invalid(p, u.Scheme, "'https' is the only allowed URL scheme"+form))
	}
	if u.Host == "" {
		errs = append(errs, field.Invalid(p, u.Host, "host must be specified"+form))
	}
	if u.User != nil {
		errs = append(errs, field.Invalid(p, u.User.String(), "user information is not permitted in the URL"))
	}
	if u.Fragment != "" {
		errs = append(errs, field.Invalid(p, u.Fragment, "fragments are not permitted in the URL"))
	}
	if u.RawQuery != "" {
		errs = append(errs, field.Invalid(p, u.RawQuery, "query parameters are not permitted in the URL"))
	}
	return errs
}

func validateWebhookService(s *apiextensionsv1.ServiceReference, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if s.Name == "" {
		errs = append(errs, field.Required(p.Child("name"), ""))
	}
	if s.Namespace == "" {
		errs = append(errs, field.Required(p.Child("namespace"), ""))
	}
	port := int32(443)
	if s.Port != nil {
		port = *s.Port
	}
	if msgs := utilvalidation.IsValidPortNum(int(port)); len(msgs) > 0 {
		errs = append(errs, field.Invalid(p.Child("port"), port, "port is not valid: "+strings.Join(msgs, ", ")))
	}
	if s.Path == nil || *s.Path == "" || *s.Path == "/" {
		return errs
	}
	path := *s.Path
	if path == "//" {
		return append(errs, field.Invalid(p.Child("path"), path, "segment[0] may not be empty"))
	}
	if !strings.HasPrefix(path, "/") {
		errs = append(errs, field.Invalid(p.Child("path"), path, "must start with a '/'"))
	}
	segments := strings.Split(strings.TrimSuffix(strings.TrimPrefix(path, "/"), "/"), "/")
	for i, seg := range segments {
		if seg == "" {
			errs = append(errs, field.Invalid(p.Child("path"), path, fmt.Sprintf("segment[%d] may not be empty", i)))
			continue
		}
		for _, msg := range utilvalidation.IsDNS1123Subdomain(seg) {
			errs = append(errs, field.Invalid(p.Child("path"), path, fmt.Sprintf("segment[%d]: %v", i, msg)))
		}
	}
	return errs
}
