package apiserver

import (
	"mime"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"

	"skiff/internal/registry"
)

const (
	mediaJSON     = "application/json"
	mediaYAML     = "application/yaml"
	mediaProtobuf = "application/vnd.kubernetes.protobuf"
)

// codecs serializes every built-in type as JSON, YAML and protobuf; its
// strict decoders report unknown and duplicate fields.
var codecs = serializer.NewCodecFactory(registry.Scheme, serializer.EnableStrict)

// output is what a client asked to receive.
type output struct {
	info runtime.SerializerInfo
	// as is "", "Table", "PartialObjectMetadata" or "PartialObjectMetadataList".
	as string
	// asVersion is the meta.k8s.io version of the transformed output.
	asVersion string
}

func serializerFor(mediaType string) (runtime.SerializerInfo, bool) {
	for _, info := range codecs.SupportedMediaTypes() {
		if info.MediaType == mediaType {
			return info, true
		}
	}
	return runtime.SerializerInfo{}, false
}

// negotiateOutput picks the first acceptable entry of the Accept header.
func negotiateOutput(r *http.Request) (output, error) {
	accept := r.Header.Get("Accept")
	if accept == "" {
		info, _ := serializerFor(mediaJSON)
		return output{info: info}, nil
	}
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mt {
		case "*/*", "application/*":
			mt = mediaJSON
		}
		info, ok := serializerFor(mt)
		if !ok {
			continue
		}
		out := output{info: info}
		if as := params["as"]; as != "" {
			if params["g"] != "meta.k8s.io" {
				continue
			}
			v := params["v"]
			switch as {
			case "Table":
				if v != "v1" && v != "v1beta1" {
					continue
				}
			case "PartialObjectMetadata", "PartialObjectMetadataList":
				if v != "v1" && v != "v1beta1" {
					continue
				}
			default:
				continue
			}
			out.as, out.asVersion = as, v
		}
		return out, nil
	}
	return output{}, apierrors.NewGenericServerResponse(http.StatusNotAcceptable, "", registryGR, "", "only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf", 0, false)
}

// requestSerializer returns the decoder for the request's Content-Type.
func requestSerializer(r *http.Request) (runtime.SerializerInfo, string, error) {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		ct = mediaJSON
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return runtime.SerializerInfo{}, "", unsupportedMediaType(ct)
	}
	info, ok := serializerFor(mt)
	if !ok {
		return runtime.SerializerInfo{}, mt, unsupportedMediaType(ct)
	}
	return info, mt, nil
}
