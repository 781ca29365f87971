package storage

import (
	"fmt"
	"strconv"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
)

// Codec turns objects into stored values and back. Values are what upstream
// kube-apiserver writes: protobuf with the "k8s\x00" envelope, and JSON for
// custom resources (*unstructured.Unstructured).
type Codec struct {
	scheme *runtime.Scheme
	proto  *protobuf.Serializer
}

// NewCodec returns a codec for the types registered in scheme.
func NewCodec(scheme *runtime.Scheme) *Codec {
	return &Codec{scheme: scheme, proto: protobuf.NewSerializer(scheme, scheme)}
}

// Encode returns the stored form of obj. The resource version is not stored:
// it is the etcd revision of the key.
func (c *Codec) Encode(obj runtime.Object) ([]byte, error) {
	if u, ok := obj.(*unstructured.Unstructured); ok {
		// Custom resources are stored as JSON, as upstream stores them.
		out := u.DeepCopy()
		out.SetResourceVersion("")
		return out.MarshalJSON()
	}
	gvks, _, err := c.scheme.ObjectKinds(obj)
	if err != nil {
		return nil, err
	}
	accessor, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	rv := accessor.GetResourceVersion()
	accessor.SetResourceVersion("")
	kind := obj.GetObjectKind()
	prevGVK := kind.GroupVersionKind()
	kind.SetGroupVersionKind(gvks[0])
	data, err := runtime.Encode(c.proto, obj)
	kind.SetGroupVersionKind(prevGVK)
	accessor.SetResourceVersion(rv)
	return data, err
}

// Decode reads a stored value and sets its resource version to rev.
func (c *Codec) Decode(data []byte, rev int64) (runtime.Object, error) {
	if len(data) > 0 && data[0] == '{' {
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(data); err != nil {
			return nil, fmt.Errorf("decoding stored object: %w", err)
		}
		u.SetResourceVersion(strconv.FormatInt(rev, 10))
		return u, nil
	}
	obj, gvk, err := c.proto.Decode(data, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("decoding stored object: %w", err)
	}
	// Objects carry their kind from the start, so that serving them never
	// has to write to an object other readers share.
	obj.GetObjectKind().SetGroupVersionKind(*gvk)
	accessor, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	accessor.SetResourceVersion(strconv.FormatInt(rev, 10))
	return obj, nil
}
