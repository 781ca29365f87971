package app

import (
	"context"
	"encoding/json"
	"net"
	"strconv"

	"fmt"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"skiff/internal/apiserver"
	"skiff/internal/apiserver/admission"
	"skiff/internal/apiserver/admission/defaultstorageclass"
	"skiff/internal/apiserver/admission/defaulttolerationseconds"
	"skiff/internal/apiserver/admission/limitranger"
	"skiff/internal/apiserver/admission/podsecurity"
	"skiff/internal/apiserver/admission/priority"
	"skiff/internal/apiserver/admission/resourcequota"
	"skiff/internal/apiserver/admission/serviceaccount"
	"skiff/internal/apiserver/admission/webhook"
	"skiff/internal/apiserver/openapi"
	"skiff/internal/registry"
	"skiff/internal/registry/defaults"
	"skiff/internal/registry/printers"
	"skiff/internal/registry/validation"
	"skiff/internal/storage"
)

// APIHooks wires the per-kind behaviour packages and the admission chain
// into the API server; store is the server's store, which admission
// plugins read namespaces and pods from.
func APIHooks(store storage.Store) apiserver.Hooks {
	return apiserver.Hooks{
		Default:              defaults.Default,
		ValidateCreate:       validation.ValidateCreate,
		ValidateUpdate:       validation.ValidateUpdate,
		ValidateStatusUpdate: validation.ValidateStatusUpdate,
		Columns:              printers.Columns,
		Row:                  printers.Row,
		OpenAPI:              openapi.NewHandler(openAPIResources()),
		Admission:            admissionChain(store),
		ServiceAddress:       webhookSources(store, apiserver.ObjectLister(store)).ServiceAddress,
	}
}

// admissionChain builds the admission chain; the chain sorts its plugins
// into upstream's order. NamespaceLifecycle is done by the server itself.
func admissionChain(store storage.Store) *admission.Chain {
	psa, err := podsecurity.New(apiserver.NamespaceGetter(store))
	if err != nil {
		// Only invalid built-in checks get here.
		panic(fmt.Sprintf("admission: %v", err))
	}
	psa.Pods = apiserver.PodLister(store)
	list := apiserver.ObjectLister(store)
	return admission.NewChain(psa, limitranger.New(list), serviceaccount.New(apiserver.ServiceAccountGetter(store)), defaulttolerationseconds.New(0, 0), priority.New(priorityClasses(list)),
		defaultstorageclass.New(list), resourcequota.New(list, apiserver.QuotaCharger(store)), webhook.New(webhookSources(store, list)))
}

// priorityClasses lists the PriorityClasses for the Priority plugin.
func priorityClasses(list func(context.Context, schema.GroupVersionResource, string) ([]runtime.Object, error)) func(context.Context) ([]*schedulingv1.PriorityClass, error) {
	return func(ctx context.Context) ([]*schedulingv1.PriorityClass, error) {
		objs, err := list(ctx, schedulingv1.SchemeGroupVersion.WithResource("priorityclasses"), "")
		out := make([]*schedulingv1.PriorityClass, 0, len(objs))
		for _, o := range objs {
			if pc, ok := o.(*schedulingv1.PriorityClass); ok {
				out = append(out, pc)
			}
		}
		return out, err
	}
}

func openAPIResources() []openapi.Resource {
	var out []openapi.Resource
	for _, r := range registry.All() {
		var subs []string
		if r.Status {
			subs = append(subs, "status")
		}
		if r.Scale {
			subs = append(subs, "scale")
		}
		out = append(out, openapi.Resource{
			Group: r.Group, Version: r.Version, Resource: r.Name, Kind: r.Kind,
			Namespaced: r.Namespaced, Verbs: r.Verbs, Subresources: subs,
			Object: r.New(), List: r.NewList(),
		})
	}
	return out
}

// webhookSources reads webhook configurations, namespaces and webhook
// Service endpoints from the server's store.
func webhookSources(store storage.Store, list func(context.Context, schema.GroupVersionResource, string) ([]runtime.Object, error)) webhook.Sources {
	arGV := admissionregistrationv1.SchemeGroupVersion
	return webhook.Sources{
		Mutating: func(ctx context.Context) ([]admissionregistrationv1.MutatingWebhookConfiguration, error) {
			objs, err := list(ctx, arGV.WithResource("mutatingwebhookconfigurations"), "")
			var out []admissionregistrationv1.MutatingWebhookConfiguration
			for _, o := range objs {
				if c, ok := o.(*admissionregistrationv1.MutatingWebhookConfiguration); ok {
					out = append(out, *c)
				}
			}
			return out, err
		},
		Validating: func(ctx context.Context) ([]admissionregistrationv1.ValidatingWebhookConfiguration, error) {
			objs, err := list(ctx, arGV.WithResource("validatingwebhookconfigurations"), "")
			var out []admissionregistrationv1.ValidatingWebhookConfiguration
			for _, o := range objs {
				if c, ok := o.(*admissionregistrationv1.ValidatingWebhookConfiguration); ok {
					out = append(out, *c)
				}
			}
			return out, err
		},
		Namespace: apiserver.NamespaceGetter(store),
		// The API server reaches a webhook Service at one of its ready
		// endpoints (there is no service proxy on the server's host).
		ServiceAddress: func(ctx context.Context, namespace, name string, port int32) (string, error) {
			objs, err := list(ctx, corev1.SchemeGroupVersion.WithResource("endpoints"), namespace)
			if err != nil {
				return "", err
			}
			for _, o := range objs {
				ep, ok := o.(*corev1.Endpoints)
				if !ok || ep.Name != name {
					continue
				}
				for _, ss := range ep.Subsets {
					if len(ss.Addresses) > 0 && len(ss.Ports) > 0 {
						return net.JoinHostPort(ss.Addresses[0].IP, strconv.Itoa(int(ss.Ports[0].Port))), nil
					}
				}
			}
			return "", fmt.Errorf("service %s/%s has no ready endpoints", namespace, name)
		},
		Decode: func(data []byte, into runtime.Object) error { return json.Unmarshal(data, into) },
	}
}
