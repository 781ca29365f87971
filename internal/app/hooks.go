package app

import (
	"fmt"

	"skiff/internal/apiserver"
	"skiff/internal/apiserver/admission"
	"skiff/internal/apiserver/admission/podsecurity"
	"skiff/internal/apiserver/admission/resourcequota"
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
	return admission.NewChain(psa, resourcequota.New(apiserver.ObjectLister(store)))
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
