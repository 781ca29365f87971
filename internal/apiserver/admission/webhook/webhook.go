// Package webhook owns dynamic admission: calling the mutating and
// validating webhooks that MutatingWebhookConfigurations and
// ValidatingWebhookConfigurations register, with AdmissionReview v1 over
// TLS, honouring their rules, selectors, timeouts and failure policies.
package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/uuid"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"

	"skiff/internal/apiserver/admission"
)

// Sources gives the plugin what it reads from the cluster.
type Sources struct {
	Mutating   func(ctx context.Context) ([]admissionregistrationv1.MutatingWebhookConfiguration, error)
	Validating func(ctx context.Context) ([]admissionregistrationv1.ValidatingWebhookConfiguration, error)
	Namespace  func(ctx context.Context, name string) (*corev1.Namespace, error)
	// ServiceAddress resolves a webhook Service to a host:port to dial.
	ServiceAddress func(ctx context.Context, namespace, name string, port int32) (string, error)
	// Decode turns JSON into an object of the same kind as into.
	Decode func(data []byte, into runtime.Object) error
}

// Plugin calls admission webhooks.
type Plugin struct{ src Sources }

var (
	_ admission.MutatingPlugin   = (*Plugin)(nil)
	_ admission.ValidatingPlugin = (*Plugin)(nil)
)

// New returns the webhook admission plugin.
func New(src Sources) *Plugin { return &Plugin{src: src} }

// Name implements admission.Plugin.
func (p *Plugin) Name() string { return "ValidatingAdmissionWebhook" }

// hook is what mutating and validating webhooks have in common.
type hook struct {
	name              string
	clientConfig      admissionregistrationv1.WebhookClientConfig
	rules             []admissionregistrationv1.RuleWithOperations
	failurePolicy     *admissionregistrationv1.FailurePolicyType
	namespaceSelector *metav1.LabelSelector
	objectSelector    *metav1.LabelSelector
	sideEffects       *admissionregistrationv1.SideEffectClass
	timeoutSeconds    *int32
}

// Admit implements admission.MutatingPlugin: mutating webhooks may patch
// the object.
func (p *Plugin) Admit(ctx context.Context, a *admission.Attributes) error {
	if p.src.Mutating == nil {
		return nil
	}
	configs, err := p.src.Mutating(ctx)
	if err != nil {
		return err
	}
	for _, c := range configs {
		for _, w := range c.Webhooks {
			h := hook{w.Name, w.ClientConfig, w.Rules, w.FailurePolicy, w.NamespaceSelector, w.ObjectSelector, w.SideEffects, w.TimeoutSeconds}
			if err := p.call(ctx, a, h, true); err != nil {
				return err
			}
		}
	}
	return nil
}

// Validate implements admission.ValidatingPlugin.
func (p *Plugin) Validate(ctx context.Context, a *admission.Attributes) error {
	if p.src.Validating == nil {
		return nil
	}
	configs, err := p.src.Validating(ctx)
	if err != nil {
		return err
	}
	for _, c := range configs {
		for _, w := range c.Webhooks {
			h := hook{w.Name, w.ClientConfig, w.Rules, w.FailurePolicy, w.NamespaceSelector, w.ObjectSelector, w.SideEffects, w.TimeoutSeconds}
			if err := p.call(ctx, a, h, false); err != nil {
				return err
			}
		}
	}
	return nil
}

func matchesAny(list []string, v string) bool {
	for _, x := range list {
		if x == "*" || x == v {
			return true
		}
	}
	return false
}

// ruleMatches applies upstream's rule semantics to a request.
func ruleMatches(r admissionregistrationv1.RuleWithOperations, a *admission.Attributes, namespaced bool) bool {
	ops := make([]string, len(r.Operations))
	for i, o := range r.Operations {
		ops[i] = string(o)
	}
	if !matchesAny(ops, string(a.Operation)) || !matchesAny(r.APIGroups, a.Resource.Group) || !matchesAny(r.APIVersions, a.Resource.Version) {
		return false
	}
	res := a.Resource.Resource
	if a.Subresource != "" {
		res += "/" + a.Subresource
	}
	ok := false
	for _, want := range r.Resources {
		switch {
		case want == "*/*", want == res:
			ok = true
		case want == "*" && a.Subresource == "":
			ok = true
		case a.Subresource != "" && want == "*/"+a.Subresource:
			ok = true
		case a.Subresource != "" && want == a.Resource.Resource+"/*":
			ok = true
		}
	}
	if !ok {
		return false
	}
	if r.Scope != nil {
		// A namespace itself is cluster-scoped, whatever its request's
		// namespace says.
		if a.Resource.Group == "" && a.Resource.Resource == "namespaces" {
			namespaced = false
		}
		switch *r.Scope {
		case admissionregistrationv1.ClusterScope:
			return !namespaced
		case admissionregistrationv1.NamespacedScope:
			return namespaced
		}
	}
	return true
}

func (p *Plugin) selected(ctx context.Context, a *admission.Attributes, h hook) (bool, error) {
	// Webhook configurations are never sent to webhooks, so that a broken
	// webhook can always be removed.
	if a.Resource.Group == admissionregistrationv1.GroupName {
		return false, nil
	}
	namespaced := a.Namespace != ""
	matched := false
	for _, r := range h.rules {
		if ruleMatches(r, a, namespaced) {
			matched = true
			break
		}
	}
	if !matched {
		return false, nil
	}
	if h.objectSelector != nil {
		sel, err := metav1.LabelSelectorAsSelector(h.objectSelector)
		if err != nil {
			return false, err
		}
		// An empty selector selects every request, even one whose object
		// has no labels to match (a DELETE's missing object, a CONNECT's
		// options), as upstream's.
		match := sel.Empty()
		for _, o := range []runtime.Object{a.Object, a.OldObject} {
			if o == nil || reflect.ValueOf(o).IsNil() {
				continue
			}
			if m, err := meta.Accessor(o); err == nil && sel.Matches(labels.Set(m.GetLabels())) {
				match = true
			}
		}
		if !match {
			return false, nil
		}
	}
	if h.namespaceSelector != nil && namespaced && p.src.Namespace != nil {
		sel, err := metav1.LabelSelectorAsSelector(h.namespaceSelector)
		if err != nil {
			return false, err
		}
		if !sel.Empty() {
			ns, err := p.src.Namespace(ctx, a.Namespace)
			if err != nil {
				return false, err
			}
			if !sel.Matches(labels.Set(ns.Labels)) {
				return false, nil
			}
		}
	}
	return true, nil
}

// call sends one AdmissionReview to a matching webhook and applies its
// answer; failures count per the webhook's failurePolicy.
func (p *Plugin) call(ctx context.Context, a *admission.Attributes, h hook, mutating bool) error {
	ok, err := p.selected(ctx, a, h)
	if err != nil || !ok {
		return err
	}
	if a.DryRun && (h.sideEffects == nil || (*h.sideEffects != admissionregistrationv1.SideEffectClassNone && *h.sideEffects != admissionregistrationv1.SideEffectClassNoneOnDryRun)) {
		return apierrors.NewBadRequest(fmt.Sprintf("admission webhook %q does not support dry run", h.name))
	}
	resp, err := p.send(ctx, a, h)
	if err != nil {
		if h.failurePolicy != nil && *h.failurePolicy == admissionregistrationv1.Ignore {
			return nil
		}
		return apierrors.NewInternalError(fmt.Errorf("failed calling webhook %q: %w", h.name, err))
	}
	for _, w := range resp.Warnings {
		a.AddWarning(w)
	}
	if !resp.Allowed {
		return denied(h.name, resp.Result)
	}
	if mutating && len(resp.Patch) > 0 {
		return p.patch(a, h.name, resp.Patch)
	}
	return nil
}

// denied is upstream's error for a webhook's refusal.
func denied(name string, result *metav1.Status) *apierrors.StatusError {
	st := metav1.Status{Status: metav1.StatusFailure}
	if result != nil {
		st = *result
	}
	if st.Code < http.StatusBadRequest {
		st.Code = http.StatusBadRequest
	}
	if st.Status == "" || st.Status == metav1.StatusSuccess {
		st.Status = metav1.StatusFailure
	}
	by := fmt.Sprintf("admission webhook %q denied the request", name)
	switch {
	case st.Message != "":
		st.Message = by + ": " + st.Message
	case st.Reason != "":
		st.Message = by + ": " + string(st.Reason)
	default:
		st.Message = by + " without explanation"
	}
	return &apierrors.StatusError{ErrStatus: st}
}

func (p *Plugin) patch(a *admission.Attributes, name string, patch []byte) error {
	jp, err := jsonpatch.DecodePatch(patch)
	if err != nil {
		return apierrors.NewInternalError(fmt.Errorf("webhook %q sent an invalid patch: %w", name, err))
	}
	if len(jp) == 0 {
		return nil
	}
	if a.Object == nil || reflect.ValueOf(a.Object).IsNil() {
		// A DELETE has no object a patch could apply to.
		return apierrors.NewInternalError(fmt.Errorf("admission webhook %q attempted to modify the object, which is not supported for this operation", name))
	}
	orig, err := json.Marshal(a.Object)
	if err != nil {
		return err
	}
	patched, err := jp.Apply(orig)
	if err != nil {
		return apierrors.NewInternalError(fmt.Errorf("applying the patch of webhook %q: %w", name, err))
	}
	fresh := reflect.New(reflect.TypeOf(a.Object).Elem()).Interface().(runtime.Object)
	if err := p.src.Decode(patched, fresh); err != nil {
		return apierrors.NewInternalError(fmt.Errorf("decoding the object patched by webhook %q: %w", name, err))
	}
	reflect.ValueOf(a.Object).Elem().Set(reflect.ValueOf(fresh).Elem())
	return nil
}

func (p *Plugin) send(ctx context.Context, a *admission.Attributes, h hook) (*admissionv1.AdmissionResponse, error) {
	target, serverName, err := p.target(ctx, h.clientConfig)
	if err != nil {
		return nil, err
	}
	review := &admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request:  request(a),
	}
	body, err := json.Marshal(review)
	if err != nil {
		return nil, err
	}
	timeout := 10 * time.Second
	if h.timeoutSeconds != nil {
		timeout = time.Duration(*h.timeoutSeconds) * time.Second
	}
	client := NewClient(h.clientConfig.CABundle, serverName, timeout)
	defer client.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 3<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("webhook answered HTTP %d", resp.StatusCode)
	}
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("decoding the webhook's AdmissionReview: %w", err)
	}
	if out.Response == nil {
		return nil, fmt.Errorf("webhook response was absent")
	}
	if out.Response.UID != review.Request.UID {
		return nil, fmt.Errorf("expected response.uid=%q, got %q", review.Request.UID, out.Response.UID)
	}
	return out.Response, nil
}

// NewClient returns the HTTP client of a webhook call: it trusts caBundle
// (the system roots when empty) and expects serverName. CRD conversion
// webhooks use it too.
func NewClient(caBundle []byte, serverName string, timeout time.Duration) *http.Client {
	pool := x509.NewCertPool()
	if len(caBundle) > 0 {
		pool.AppendCertsFromPEM(caBundle)
	} else if sys, err := x509.SystemCertPool(); err == nil {
		pool = sys
	}
	return &http.Client{Timeout: timeout, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: serverName, MinVersion: tls.VersionTLS12},
		DialContext:     (&net.Dialer{Timeout: timeout}).DialContext,
	}}
}

// target is the URL to POST to and the TLS server name to expect.
func (p *Plugin) target(ctx context.Context, cc admissionregistrationv1.WebhookClientConfig) (string, string, error) {
	return Target(ctx, cc, p.src.ServiceAddress)
}

// Target returns the URL to POST to for a webhook client config and the
// TLS server name to expect, resolving a Service with serviceAddress (as
// Sources.ServiceAddress). CRD conversion webhooks use it too.
func Target(ctx context.Context, cc admissionregistrationv1.WebhookClientConfig, serviceAddress func(ctx context.Context, namespace, name string, port int32) (string, error)) (string, string, error) {
	if cc.URL != nil {
		u, err := url.Parse(*cc.URL)
		if err != nil {
			return "", "", err
		}
		return u.String(), u.Hostname(), nil
	}
	if cc.Service == nil {
		return "", "", fmt.Errorf("webhook has neither url nor service")
	}
	port := int32(443)
	if cc.Service.Port != nil {
		port = *cc.Service.Port
	}
	if serviceAddress == nil {
		return "", "", fmt.Errorf("webhook services cannot be resolved")
	}
	addr, err := serviceAddress(ctx, cc.Service.Namespace, cc.Service.Name, port)
	if err != nil {
		return "", "", err
	}
	path := "/"
	if cc.Service.Path != nil {
		path = *cc.Service.Path
	}
	return "https://" + addr + path, cc.Service.Name + "." + cc.Service.Namespace + ".svc", nil
}

func request(a *admission.Attributes) *admissionv1.AdmissionRequest {
	gvk := schema(a)
	req := &admissionv1.AdmissionRequest{
		UID:             uuid.NewUUID(),
		Kind:            gvk,
		Resource:        metav1.GroupVersionResource{Group: a.Resource.Group, Version: a.Resource.Version, Resource: a.Resource.Resource},
		SubResource:     a.Subresource,
		RequestKind:     &gvk,
		RequestResource: &metav1.GroupVersionResource{Group: a.Resource.Group, Version: a.Resource.Version, Resource: a.Resource.Resource},
		Name:            a.Name,
		Namespace:       a.Namespace,
		Operation:       admissionv1.Operation(a.Operation),
		UserInfo:        authUser(a),
		DryRun:          &a.DryRun,
	}
	if a.Object != nil && !reflect.ValueOf(a.Object).IsNil() {
		req.Object = runtime.RawExtension{Object: a.Object}
	}
	if a.OldObject != nil && !reflect.ValueOf(a.OldObject).IsNil() {
		req.OldObject = runtime.RawExtension{Object: a.OldObject}
	}
	if a.Options != nil && !reflect.ValueOf(a.Options).IsNil() {
		req.Options = runtime.RawExtension{Object: a.Options}
	}
	return req
}

func schema(a *admission.Attributes) metav1.GroupVersionKind {
	for _, o := range []runtime.Object{a.Object, a.OldObject} {
		if o != nil && !reflect.ValueOf(o).IsNil() {
			k := o.GetObjectKind().GroupVersionKind()
			if k.Kind != "" {
				return metav1.GroupVersionKind{Group: k.Group, Version: k.Version, Kind: k.Kind}
			}
		}
	}
	return metav1.GroupVersionKind{Group: a.Resource.Group, Version: a.Resource.Version}
}

func authUser(a *admission.Attributes) authenticationv1.UserInfo {
	return authenticationv1.UserInfo{Username: a.User.Name, Groups: a.User.Groups}
}
