package app

import (
	"skiff/internal/apiserver"
	"skiff/internal/apiserver/openapi"
	"skiff/internal/registry"
	"skiff/internal/registry/defaults"
	"skiff/internal/registry/printers"
	"skiff/internal/registry/validation"
)

// APIHooks wires the per-kind behaviour packages into the API server.
func APIHooks() apiserver.Hooks {
	return apiserver.Hooks{
		Default:              defaults.Default,
		ValidateCreate:       validation.ValidateCreate,
		ValidateUpdate:       validation.ValidateUpdate,
		ValidateStatusUpdate: validation.ValidateStatusUpdate,
		Columns:              printers.Columns,
		Row:                  printers.Row,
		OpenAPI:              openapi.NewHandler(openAPIResources()),
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
