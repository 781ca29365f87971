package apiserver

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"skiff/internal/gzipjoin"
	"skiff/internal/registry"
	"skiff/internal/storage"
)

// A list served from the watch cache is written without building the list
// object: each item's encoding is made once per object version and kept with
// the cached object, and the body is those encodings inside the list's
// envelope. The bytes are exactly what encoding the whole list would give
// (tests compare them for every built-in list type).

// protoMarshaler is what gogo-generated API types implement.
type protoMarshaler interface {
	Marshal() ([]byte, error)
}

// errNoFastList means an item cannot be encoded on its own; the list is then
// written the general way.
var errNoFastList = errors.New("list needs the general encoder")

// listWriteSize is how much of a list body goes out in one write.
const listWriteSize = 64 << 10

// protoPrefix starts every protobuf-encoded object (runtime.Unknown follows).
var protoPrefix = []byte{'k', '8', 's', 0}

// fastListFormat returns the item encoding a list request can be served
// with, or "" when it needs the general path (tables, metadata-only, YAML,
// custom resources).
func fastListFormat(q *request) string {
	if q.out.as != "" || q.res.IsCustom() {
		return ""
	}
	switch q.out.info.MediaType {
	case mediaJSON, mediaProtobuf:
	default:
		return ""
	}
	if !listShapeOK(reflect.TypeOf(q.res.NewList())) {
		return ""
	}
	return q.out.info.MediaType
}

// itemEncodings returns the encoding of every item in format, made at first
// use and kept with the cached object version.
func itemEncodings(res *registry.Resource, format string, items []runtime.Object, shared []*storage.Shared) ([][]byte, error) {
	// The served form depends on the resource's version (conversion).
	key := format + " " + res.Group + "/" + res.Version + "/" + res.Name
	out := make([][]byte, len(items))
	for i, it := range items {
		b, err := shared[i].Get(key, func() ([]byte, error) { return encodeItem(res, format, it) })
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

// encodeItem encodes one stored object as an item of a list in format: in
// the served version and without a kind of its own.
func encodeItem(res *registry.Resource, format string, stored runtime.Object) ([]byte, error) {
	obj, err := registry.FromStorage(res, stored)
	if err != nil {
		return nil, err
	}
	switch format {
	case mediaProtobuf:
		// The protobuf form of an API object does not carry its kind.
		m, ok := obj.(protoMarshaler)
		if !ok {
			return nil, errNoFastList
		}
		return m.Marshal()
	case mediaJSON:
		obj = withoutKind(obj)
		if obj == nil {
			return nil, errNoFastList
		}
		return json.Marshal(obj)
	}
	return nil, errNoFastList
}

// withoutKind returns obj with an empty apiVersion and kind; a shallow copy
// when obj has them, since obj may be shared with other readers. Nil when obj
// is not a pointer to a struct.
func withoutKind(obj runtime.Object) runtime.Object {
	if obj.GetObjectKind().GroupVersionKind().Empty() {
		return obj
	}
	v := reflect.ValueOf(obj)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return nil
	}
	cp := reflect.New(v.Elem().Type())
	cp.Elem().Set(v.Elem())
	out, ok := cp.Interface().(runtime.Object)
	if !ok {
		return nil
	}
	out.GetObjectKind().SetGroupVersionKind(schema.GroupVersionKind{})
	return out
}

// listShapes caches listShapeOK per list type.
var listShapes sync.Map // reflect.Type -> bool

// listShapeOK reports whether a list type is laid out as every built-in
// list is, which the envelope writers rely on: inline TypeMeta, then
// ListMeta as "metadata" (protobuf field 1), then Items as "items"
// (protobuf field 2).
func listShapeOK(t reflect.Type) bool {
	if v, ok := listShapes.Load(t); ok {
		return v.(bool)
	}
	ok := t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct
	if ok {
		s := t.Elem()
		ok = s.NumField() == 3 &&
			s.Field(0).Anonymous && s.Field(0).Type == reflect.TypeFor[metav1.TypeMeta]() && jsonName(s.Field(0)) == "" &&
			s.Field(1).Type == reflect.TypeFor[metav1.ListMeta]() && jsonName(s.Field(1)) == "metadata" &&
			hasProtoField(s.Field(1), 1) &&
			s.Field(2).Type.Kind() == reflect.Slice && s.Field(2).Type.Elem().Kind() == reflect.Struct &&
			s.Field(2).Tag.Get("json") == "items" && hasProtoField(s.Field(2), 2) &&
			reflect.PointerTo(t.Elem()).Implements(reflect.TypeFor[protoMarshaler]())
	}
	listShapes.Store(t, ok)
	return ok
}

func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	return name
}

func hasProtoField(f reflect.StructField, n int) bool {
	tag := f.Tag.Get("protobuf")
	want := "bytes," + strconv.Itoa(n) + ","
	return strings.HasPrefix(tag, want)
}

// writeCachedList writes a list from its items' kept encodings. It returns
// false, having written nothing, when the list needs the general path.
func (s *Server) writeCachedList(q *request, res *storage.ListResult, listGVK schema.GroupVersionKind, lm *metav1.ListMeta) (bool, error) {
	format := fastListFormat(q)
	if format == "" || res.Encodings == nil || len(res.Encodings) != len(res.Items) {
		return false, nil
	}
	items, err := itemEncodings(q.res, format, res.Items, res.Encodings)
	if errors.Is(err, errNoFastList) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	var head, tail []byte
	size := 0
	switch format {
	case mediaProtobuf:
		head, tail, size, err = protoListFrame(listGVK, lm, items)
	default:
		head, tail, size, err = jsonListFrame(listGVK, lm, items)
	}
	if err != nil {
		return false, err
	}
	h := q.w.Header()
	h.Set("Content-Type", q.out.info.MediaType)
	if size > gzipThreshold && acceptsGzip(q.r) {
		return true, s.writeGzipList(q, format, head, tail, items, res.Items)
	}
	h.Set("Content-Length", strconv.Itoa(size))
	q.w.WriteHeader(http.StatusOK)
	// Items go out in large writes (HTTP/2 hands each write to the
	// connection and waits until it is sent, so small ones stall the
	// stream); the body is never copied whole.
	bw := bufio.NewWriterSize(q.w, listWriteSize)
	_, _ = bw.Write(head)
	var frame [binary.MaxVarintLen64 + 1]byte
	for i, b := range items {
		switch format {
		case mediaProtobuf:
			frame[0] = 0x12 // field 2 (items), length-delimited
			n := binary.PutUvarint(frame[1:], uint64(len(b)))
			_, _ = bw.Write(frame[:1+n])
		default:
			if i > 0 {
				_ = bw.WriteByte(',')
			}
		}
		_, _ = bw.Write(b)
	}
	_, _ = bw.Write(tail)
	_ = bw.Flush()
	return true, nil
}

// writeGzipList writes a list as gzip from compressed chunks of its items,
// kept between requests (see chunkCache).
func (s *Server) writeGzipList(q *request, format string, head, tail []byte, items [][]byte, objs []runtime.Object) error {
	segs := []gzipjoin.Segment{gzipjoin.Compress(head)}
	start := 0
	for _, end := range chunkEnds(objs, items) {
		var frame func(i int, b []byte) []byte
		lead := false
		if format == mediaProtobuf {
			frame = func(_ int, b []byte) []byte {
				return binary.AppendUvarint([]byte{0x12}, uint64(len(b))) // field 2 (items)
			}
		} else {
			lead = start > 0
			frame = func(i int, _ []byte) []byte {
				if i > 0 || lead {
					return comma
				}
				return nil
			}
		}
		segs = append(segs, s.listChunks.segment(items[start:end], lead, frame))
		start = end
	}
	segs = append(segs, gzipjoin.Compress(tail))
	h := q.w.Header()
	h.Set("Content-Encoding", "gzip")
	h.Add("Vary", "Accept-Encoding")
	h.Set("Content-Length", strconv.FormatInt(gzipjoin.Len(segs), 10))
	q.w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(q.w, listWriteSize)
	if err := gzipjoin.Write(bw, segs); err != nil {
		return nil // the client went away; the status is sent
	}
	_ = bw.Flush()
	return nil
}

var comma = []byte{','}

// protoListFrame returns what goes before and after the items of a protobuf
// list, and the body's full size: the "k8s\x00" prefix, then a
// runtime.Unknown whose raw field is the list message (ListMeta as field 1,
// each item as field 2), as the protobuf serializer writes them.
func protoListFrame(gvk schema.GroupVersionKind, lm *metav1.ListMeta, items [][]byte) (head, tail []byte, size int, err error) {
	tm := runtime.TypeMeta{APIVersion: gvk.GroupVersion().String(), Kind: gvk.Kind}
	tmb, err := tm.Marshal()
	if err != nil {
		return nil, nil, 0, err
	}
	lmb, err := lm.Marshal()
	if err != nil {
		return nil, nil, 0, err
	}
	list := 1 + uvarintLen(len(lmb)) + len(lmb)
	for _, b := range items {
		list += 1 + uvarintLen(len(b)) + len(b)
	}
	head = append(head, protoPrefix...)
	head = append(head, 0x0a) // Unknown.typeMeta
	head = binary.AppendUvarint(head, uint64(len(tmb)))
	head = append(head, tmb...)
	head = append(head, 0x12) // Unknown.raw: the list message
	head = binary.AppendUvarint(head, uint64(list))
	head = append(head, 0x0a) // list.metadata
	head = binary.AppendUvarint(head, uint64(len(lmb)))
	head = append(head, lmb...)
	// Unknown.contentEncoding and Unknown.contentType, both empty.
	tail = []byte{0x1a, 0, 0x22, 0}
	size = len(head) - (1 + uvarintLen(len(lmb)) + len(lmb)) + list + len(tail)
	return head, tail, size, nil
}

func uvarintLen(n int) int {
	l := 1
	for n >= 0x80 {
		n >>= 7
		l++
	}
	return l
}

// listHead is a list without its items, for JSON.
type listHead struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`
}

// jsonListFrame returns what goes before and after the items of a JSON list,
// and the body's full size, as the JSON serializer writes it (one line).
func jsonListFrame(gvk schema.GroupVersionKind, lm *metav1.ListMeta, items [][]byte) (head, tail []byte, size int, err error) {
	h, err := json.Marshal(listHead{TypeMeta: metav1.TypeMeta{APIVersion: gvk.GroupVersion().String(), Kind: gvk.Kind}, ListMeta: *lm})
	if err != nil {
		return nil, nil, 0, err
	}
	// Drop the closing brace to append the items.
	head = append(h[:len(h)-1:len(h)-1], `,"items":[`...)
	tail = []byte("]}\n")
	size = len(head) + len(tail)
	for i, b := range items {
		if i > 0 {
			size++
		}
		size += len(b)
	}
	return head, tail, size, nil
}
