package openapi

import (
	"reflect"
	"slices"
	"sort"
	"strings"
	"unicode"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Types every document refers to, whatever resources are served.
var (
	statusType        = reflect.TypeFor[metav1.Status]()
	deleteOptionsType = reflect.TypeFor[metav1.DeleteOptions]()
	patchType         = reflect.TypeFor[metav1.Patch]()
	watchEventType    = reflect.TypeFor[metav1.WatchEvent]()
	scaleType         = reflect.TypeFor[autoscalingv1.Scale]()
	scaleGVK          = autoscalingv1.SchemeGroupVersion.WithKind("Scale")
)

// param is a path or query parameter; type is a JSON schema scalar type.
type param struct {
	name, in, desc, typ string
	required            bool
}

type response struct {
	code int
	desc string
	body reflect.Type
}

// operation is one HTTP method on one path, independent of the OpenAPI
// dialect it is rendered into.
type operation struct {
	method   string // lower-case HTTP method
	id       string
	desc     string
	action   string // x-kubernetes-action
	tag      string
	gvk      schema.GroupVersionKind
	params   []param
	body     reflect.Type // request body, nil for none
	bodyReq  bool
	patch    bool // request body is a patch document
	stream   bool // response may be a watch stream
	list     bool // response is a list that may be watched
	response []response
}

type pathItem struct {
	path   string
	gv     string // discovery key of the group-version: "api/v1", "apis/apps/v1"
	params []param
	ops    []*operation
}

var (
	prettyParam = param{name: "pretty", in: "query", typ: "string",
		desc: "If 'true', then the output is pretty printed. Defaults to 'false' unless the user-agent indicates a browser or command-line HTTP tool (curl and wget)."}
	namespaceParam = param{name: "namespace", in: "path", typ: "string", required: true,
		desc: "object name and auth scope, such as for teams and projects"}
)

// optionParams turns the fields of a meta/v1 options struct into query
// parameters, described by its SwaggerDoc, the way upstream's installer
// reflects over the same structs. Fields that cannot travel in a query
// string (structs such as Preconditions) are left out.
func optionParams(obj any, skip ...string) []param {
	t := reflect.TypeOf(obj)
	doc := swaggerDoc(t)
	var out []param
	for i := 0; i < t.NumField(); i++ {
		jf, ok := parseJSONField(t.Field(i))
		if !ok || jf.inline || slices.Contains(skip, jf.name) {
			continue
		}
		ft := jf.field.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Slice {
			ft = ft.Elem() // repeated query values, e.g. dryRun
		}
		var typ string
		switch ft.Kind() {
		case reflect.Bool:
			typ = "boolean"
		case reflect.String:
			typ = "string"
		case reflect.Int, reflect.Int32, reflect.Int64:
			typ = "integer"
		default:
			continue
		}
		out = append(out, param{name: jf.name, in: "query", typ: typ, desc: doc[jf.name]})
	}
	return out
}

var (
	listParams   = optionParams(metav1.ListOptions{})
	createParams = optionParams(metav1.CreateOptions{})
	updateParams = optionParams(metav1.UpdateOptions{})
	patchParams  = optionParams(metav1.PatchOptions{})
	deleteParams = optionParams(metav1.DeleteOptions{})
	// deletecollection takes the list selectors but cannot watch.
	deleteCollectionParams = append(slices.Clone(deleteParams),
		optionParams(metav1.ListOptions{}, "watch", "allowWatchBookmarks")...)
)

func sortParams(ps []param) []param {
	out := slices.Clone(ps)
	sort.SliceStable(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// camel upper-cases the first letter of each run of letters and digits and
// drops everything else: "rbac.authorization" -> "RbacAuthorization".
func camel(s string, upperFirst bool) string {
	var sb strings.Builder
	up := upperFirst
	for i, r := range s {
		if unicode.IsLetter(r) || r == '_' || (i > 0 && unicode.IsDigit(r)) {
			if up {
				r = unicode.ToUpper(r)
				up = false
			}
			sb.WriteRune(r)
		} else {
			up = true
		}
	}
	return sb.String()
}

// groupVersionNames returns the operationId infix ("AppsV1", "CoreV1") and
// the tag ("apps_v1", "core_v1") upstream derives from a group-version.
func groupVersionNames(group, version string) (infix, tag string) {
	g := group
	if g == "" {
		g = "core"
	}
	g = strings.TrimSuffix(g, ".k8s.io")
	return camel(g, true) + camel(version, true), camel(g, false) + "_" + camel(version, false)
}

func gvKey(group, version string) string {
	if group == "" {
		return "api/" + version
	}
	return "apis/" + group + "/" + version
}

// buildPaths lays out the paths of every resource as upstream's installer
// does. It returns them keyed by path.
func buildPaths(resources []Resource) map[string]*pathItem {
	paths := map[string]*pathItem{}
	item := func(p, gv string, params ...param) *pathItem {
		pi, ok := paths[p]
		if !ok {
			pi = &pathItem{path: p, gv: gv, params: sortParams(params)}
			paths[p] = pi
		}
		return pi
	}
	for _, r := range resources {
		addResourcePaths(r, item)
	}
	return paths
}

func addResourcePaths(r Resource, item func(p, gv string, params ...param) *pathItem) {
	gv := gvKey(r.Group, r.Version)
	infix, tag := groupVersionNames(r.Group, r.Version)
	gvk := schema.GroupVersionKind{Group: r.Group, Version: r.Version, Kind: r.Kind}
	objType := reflect.TypeOf(r.Object)
	var listType reflect.Type
	if r.List != nil {
		listType = reflect.TypeOf(r.List)
	}
	kind := r.Kind
	has := func(v string) bool { return slices.Contains(r.Verbs, v) }

	scope, base, watchBase := "", "/"+gv, "/"+gv+"/watch"
	scopeParams := []param{prettyParam}
	if r.Namespaced {
		scope = "Namespaced"
		base += "/namespaces/{namespace}"
		watchBase += "/namespaces/{namespace}"
		scopeParams = append(scopeParams, namespaceParam)
	}
	collection := base + "/" + r.Resource
	named := collection + "/{name}"
	nameParam := param{name: "name", in: "path", typ: "string", required: true, desc: "name of the " + kind}
	namedParams := append(slices.Clone(scopeParams), nameParam)

	op := func(method, verb, action, desc string) *operation {
		return &operation{method: method, id: verb + infix + scope + kind, desc: desc, action: action, tag: tag, gvk: gvk}
	}
	ok := func(t reflect.Type, codes ...int) []response {
		out := make([]response, 0, len(codes)+1)
		for _, c := range codes {
			out = append(out, response{code: c, body: t, desc: statusText(c)})
		}
		return append(out, response{code: 401, desc: "Unauthorized"})
	}

	if has("list") && listType != nil {
		o := op("get", "list", "list", "list or watch objects of kind "+kind)
		o.params, o.list, o.response = listParams, true, ok(listType, 200)
		pi := item(collection, gv, scopeParams...)
		pi.ops = append(pi.ops, o)
		if r.Namespaced {
			// The all-namespaces list carries its query parameters on the path.
			all := &operation{method: "get", id: "list" + infix + kind + "ForAllNamespaces",
				desc: o.desc, action: "list", tag: tag, gvk: gvk, list: true, response: o.response}
			pi := item("/"+gv+"/"+r.Resource, gv, append(slices.Clone(listParams), prettyParam)...)
			pi.ops = append(pi.ops, all)
		}
	}
	if has("create") {
		o := op("post", "create", "post", "create "+article(kind)+" "+kind)
		o.params, o.body, o.bodyReq, o.response = createParams, objType, true, ok(objType, 200, 201, 202)
		pi := item(collection, gv, scopeParams...)
		pi.ops = append(pi.ops, o)
	}
	if has("deletecollection") {
		o := op("delete", "delete", "deletecollection", "delete collection of "+kind)
		o.id = "delete" + infix + "Collection" + scope + kind
		o.params, o.body, o.response = deleteCollectionParams, deleteOptionsType, ok(statusType, 200)
		pi := item(collection, gv, scopeParams...)
		pi.ops = append(pi.ops, o)
	}
	if has("get") {
		o := op("get", "read", "get", "read the specified "+kind)
		o.response = ok(objType, 200)
		pi := item(named, gv, namedParams...)
		pi.ops = append(pi.ops, o)
	}
	if has("update") {
		o := op("put", "replace", "put", "replace the specified "+kind)
		o.params, o.body, o.bodyReq, o.response = updateParams, objType, true, ok(objType, 200, 201)
		pi := item(named, gv, namedParams...)
		pi.ops = append(pi.ops, o)
	}
	if has("patch") {
		o := op("patch", "patch", "patch", "partially update the specified "+kind)
		o.params, o.body, o.bodyReq, o.patch, o.response = patchParams, patchType, true, true, ok(objType, 200, 201)
		pi := item(named, gv, namedParams...)
		pi.ops = append(pi.ops, o)
	}
	if has("delete") {
		o := op("delete", "delete", "delete", "delete "+article(kind)+" "+kind)
		o.params, o.body, o.response = deleteParams, deleteOptionsType, ok(statusType, 200, 202)
		pi := item(named, gv, namedParams...)
		pi.ops = append(pi.ops, o)
	}
	if has("watch") {
		// Deprecated watch paths, still published upstream; every query
		// parameter of a list sits on the path item.
		watchParams := append(slices.Clone(listParams), scopeParams...)
		if has("list") {
			o := op("get", "watch", "watchlist", "watch individual changes to a list of "+kind+
				". deprecated: use the 'watch' parameter with a list operation instead.")
			o.id += "List"
			o.stream, o.response = true, ok(watchEventType, 200)
			pi := item(watchBase+"/"+r.Resource, gv, watchParams...)
			pi.ops = append(pi.ops, o)
			if r.Namespaced {
				all := &operation{method: "get", id: "watch" + infix + kind + "ListForAllNamespaces",
					desc: o.desc, action: "watchlist", tag: tag, gvk: gvk, stream: true, response: o.response}
				pi := item("/"+gv+"/watch/"+r.Resource, gv, append(slices.Clone(listParams), prettyParam)...)
				pi.ops = append(pi.ops, all)
			}
		}
		o := op("get", "watch", "watch", "watch changes to an object of kind "+kind+
			". deprecated: use the 'watch' parameter with a list operation instead, filtered to a single item with the 'fieldSelector' parameter.")
		o.stream, o.response = true, ok(watchEventType, 200)
		pi := item(watchBase+"/"+r.Resource+"/{name}", gv, append(watchParams, nameParam)...)
		pi.ops = append(pi.ops, o)
	}

	for _, sub := range r.Subresources {
		subType, subGVK := objType, gvk
		var methods []string
		switch sub {
		case "status":
			methods = []string{"get", "put", "patch"}
		case "scale":
			subType, subGVK = scaleType, scaleGVK
			methods = []string{"get", "put", "patch"}
		case "finalize":
			methods = []string{"put"}
		default:
			// Other subresources (binding, eviction, log, exec, ...) take
			// their own request types, which Resource does not describe.
			continue
		}
		p := named + "/" + sub
		suffix := camel(sub, true)
		for _, m := range methods {
			var o *operation
			switch m {
			case "get":
				o = op("get", "read", "get", "read "+sub+" of the specified "+kind)
				o.response = ok(subType, 200)
			case "put":
				o = op("put", "replace", "put", "replace "+sub+" of the specified "+kind)
				o.params, o.body, o.bodyReq, o.response = updateParams, subType, true, ok(subType, 200, 201)
			case "patch":
				o = op("patch", "patch", "patch", "partially update "+sub+" of the specified "+kind)
				o.params, o.body, o.bodyReq, o.patch, o.response = patchParams, patchType, true, true, ok(subType, 200, 201)
			}
			o.id += suffix
			o.gvk = subGVK
			pi := item(p, gv, namedParams...)
			pi.ops = append(pi.ops, o)
		}
	}
}

func statusText(code int) string {
	switch code {
	case 200:
		return "OK"
	case 201:
		return "Created"
	case 202:
		return "Accepted"
	}
	return ""
}

// article picks "a" or "an" for the operation descriptions upstream writes.
func article(kind string) string {
	if kind != "" && strings.ContainsRune("AEIOU", rune(kind[0])) {
		return "an"
	}
	return "a"
}
