package apiserver

import (
	"encoding/json"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"skiff/internal/registry"
)

// aggregatedMediaType is the Accept/Content-Type of aggregated discovery,
// which lets clients read all groups and resources in one request.
const aggregatedMediaType = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"

func wantsAggregated(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		if mt == mediaJSON && params["g"] == "apidiscovery.k8s.io" && params["v"] == "v2" && params["as"] == "APIGroupDiscoveryList" {
			return true
		}
		if mt == mediaJSON && params["as"] == "" {
			// A plain JSON entry listed earlier wins.
			return false
		}
	}
	return false
}

func (s *Server) serverAddresses(r *http.Request) []metav1.ServerAddressByClientCIDR {
	host := r.Host
	if s.cfg.AdvertiseAddress != nil {
		host = net.JoinHostPort(s.cfg.AdvertiseAddress.String(), strconv.Itoa(s.cfg.Port))
	}
	return []metav1.ServerAddressByClientCIDR{{ClientCIDR: "0.0.0.0/0", ServerAddress: host}}
}

func (s *Server) serveCoreVersions(w http.ResponseWriter, r *http.Request) {
	if wantsAggregated(r) {
		s.writeAggregated(w, true)
		return
	}
	s.writeJSON(w, http.StatusOK, &metav1.APIVersions{
		TypeMeta:                   metav1.TypeMeta{Kind: "APIVersions"},
		Versions:                   []string{"v1"},
		ServerAddressByClientCIDRs: s.serverAddresses(r),
	})
}

// groupOrder lists non-core groups with their versions, preferred first.
func groupOrder() ([]string, map[string][]string) {
	var groups []string
	versions := map[string][]string{}
	for _, gv := range registry.GroupVersions() {
		if gv.Group == "" {
			continue
		}
		if _, ok := versions[gv.Group]; !ok {
			groups = append(groups, gv.Group)
		}
		versions[gv.Group] = append(versions[gv.Group], gv.Version)
	}
	return groups, versions
}

func apiGroup(name string, versions []string) metav1.APIGroup {
	g := metav1.APIGroup{TypeMeta: metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"}, Name: name}
	for _, v := range versions {
		g.Versions = append(g.Versions, metav1.GroupVersionForDiscovery{GroupVersion: name + "/" + v, Version: v})
	}
	g.PreferredVersion = g.Versions[0]
	return g
}

func (s *Server) serveGroups(w http.ResponseWriter, r *http.Request) {
	if wantsAggregated(r) {
		s.writeAggregated(w, false)
		return
	}
	groups, versions := groupOrder()
	list := &metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}}
	for _, g := range groups {
		ag := apiGroup(g, versions[g])
		ag.TypeMeta = metav1.TypeMeta{}
		list.Groups = append(list.Groups, ag)
	}
	s.writeJSON(w, http.StatusOK, list)
}

func (s *Server) serveGroup(w http.ResponseWriter, r *http.Request, name string) {
	_, versions := groupOrder()
	v, ok := versions[name]
	if !ok {
		s.writeError(w, r, notFoundPath())
		return
	}
	g := apiGroup(name, v)
	s.writeJSON(w, http.StatusOK, &g)
}

var (
	statusVerbs = []string{"get", "patch", "update"}
)

// subresourcesOf lists a resource's subresources for discovery.
func subresourcesOf(res *registry.Resource) []registry.Subresource {
	var out []registry.Subresource
	if res.Scale {
		out = append(out, registry.Subresource{Name: "scale", Group: "autoscaling", Kind: "Scale", Verbs: statusVerbs})
	}
	if res.Status {
		out = append(out, registry.Subresource{Name: "status", Group: res.Group, Kind: res.Kind, Verbs: statusVerbs})
	}
	out = append(out, res.ExtraSubresources...)
	out = append(out, proxySubresources[res.GroupResource()]...)
	return out
}

func (s *Server) serveResourceList(w http.ResponseWriter, r *http.Request, gv schema.GroupVersion) {
	resources := registry.ForGroupVersion(gv)
	if len(resources) == 0 {
		s.writeError(w, r, notFoundPath())
		return
	}
	list := &metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: gv.String()}
	for _, res := range resources {
		list.APIResources = append(list.APIResources, metav1.APIResource{
			Name: res.Name, SingularName: res.Singular, Namespaced: res.Namespaced, Kind: res.Kind,
			Verbs: res.Verbs, ShortNames: res.ShortNames, Categories: res.Categories,
		})
		for _, sr := range subresourcesOf(res) {
			ar := metav1.APIResource{Name: res.Name + "/" + sr.Name, Namespaced: res.Namespaced, Kind: sr.Kind, Verbs: sr.Verbs}
			if sr.Group != res.Group {
				ar.Group, ar.Version = sr.Group, "v1"
			}
			list.APIResources = append(list.APIResources, ar)
		}
	}
	s.writeJSON(w, http.StatusOK, list)
}

// writeAggregated writes the aggregated discovery document of the core
// group (/api) or of all other groups (/apis).
func (s *Server) writeAggregated(w http.ResponseWriter, core bool) {
	list := &apidiscoveryv2.APIGroupDiscoveryList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupDiscoveryList", APIVersion: "apidiscovery.k8s.io/v2"}}
	var groups []string
	versions := map[string][]string{}
	if core {
		groups, versions[""] = []string{""}, []string{"v1"}
	} else {
		groups, versions = groupOrder()
	}
	for _, g := range groups {
		gd := apidiscoveryv2.APIGroupDiscovery{ObjectMeta: metav1.ObjectMeta{Name: g}}
		for _, v := range versions[g] {
			vd := apidiscoveryv2.APIVersionDiscovery{Version: v, Freshness: apidiscoveryv2.DiscoveryFreshnessCurrent}
			for _, res := range registry.ForGroupVersion(schema.GroupVersion{Group: g, Version: v}) {
				scope := apidiscoveryv2.ScopeCluster
				if res.Namespaced {
					scope = apidiscoveryv2.ScopeNamespace
				}
				rd := apidiscoveryv2.APIResourceDiscovery{
					Resource: res.Name, ResponseKind: &metav1.GroupVersionKind{Group: res.Group, Version: res.Version, Kind: res.Kind},
					Scope: scope, SingularResource: res.Singular, Verbs: res.Verbs, ShortNames: res.ShortNames, Categories: res.Categories,
				}
				for _, sr := range subresourcesOf(res) {
					ver := res.Version
					if sr.Group != res.Group {
						ver = "v1"
					}
					rd.Subresources = append(rd.Subresources, apidiscoveryv2.APISubresourceDiscovery{
						Subresource: sr.Name, ResponseKind: &metav1.GroupVersionKind{Group: sr.Group, Version: ver, Kind: sr.Kind}, Verbs: sr.Verbs,
					})
				}
				vd.Resources = append(vd.Resources, rd)
			}
			gd.Versions = append(gd.Versions, vd)
		}
		list.Items = append(list.Items, gd)
	}
	data, err := json.Marshal(list)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", aggregatedMediaType)
	w.Header().Set("Vary", "Accept")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(data)
}

// rootPaths lists the server's paths, as GET / does upstream.
func rootPaths() map[string][]string {
	paths := []string{"/api", "/api/v1", "/apis", "/healthz", "/livez", "/metrics", "/openapi/v2", "/openapi/v3", "/readyz", "/version"}
	groups, versions := groupOrder()
	for _, g := range groups {
		paths = append(paths, "/apis/"+g)
		for _, v := range versions[g] {
			paths = append(paths, "/apis/"+g+"/"+v)
		}
	}
	return map[string][]string{"paths": paths}
}
