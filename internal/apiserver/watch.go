package apiserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/registry"
	"skiff/internal/storage"
)

// minWatchTimeout is the base of the random default watch lifetime
// (upstream: between 30 and 60 minutes).
const minWatchTimeout = 30 * time.Minute

// watchWriter encodes watch events in the negotiated stream format.
type watchWriter struct {
	s       *Server
	q       *request
	w       http.ResponseWriter
	flusher http.Flusher
	enc     runtime.Encoder
	framer  runtime.Framer
	buf     bytes.Buffer
	// dirty is set when written bytes wait for a flush; the stream is
	// flushed when no further event is waiting, not after every event.
	dirty bool
	// lastBookmark is when the last periodic bookmark went out.
	lastBookmark time.Time
}

// frame encodes one watch event, framed for the stream.
func (ww *watchWriter) frame(typ string, obj runtime.Object) ([]byte, error) {
	ww.buf.Reset()
	if err := ww.q.out.info.Serializer.Encode(obj, &ww.buf); err != nil {
		return nil, err
	}
	ev := &metav1.WatchEvent{Type: typ, Object: runtime.RawExtension{Raw: bytes.Clone(ww.buf.Bytes())}}
	ww.buf.Reset()
	if err := ww.enc.Encode(ev, &ww.buf); err != nil {
		return nil, err
	}
	var framed bytes.Buffer
	if _, err := ww.framer.NewFrameWriter(&framed).Write(ww.buf.Bytes()); err != nil {
		return nil, err
	}
	return framed.Bytes(), nil
}

func (ww *watchWriter) write(framed []byte) error {
	if _, err := ww.w.Write(framed); err != nil {
		return err
	}
	ww.dirty = true
	return nil
}

func (ww *watchWriter) flush() {
	if ww.dirty {
		ww.flusher.Flush()
		ww.dirty = false
	}
}

func (ww *watchWriter) send(typ string, obj runtime.Object) error {
	out, err := ww.s.transform(ww.q, obj)
	if err != nil {
		return err
	}
	framed, err := ww.frame(typ, out)
	if err != nil {
		return err
	}
	return ww.write(framed)
}

// sendShared sends an event of the store that every watcher with the same
// output format sends alike: it is encoded once, by the first of them.
func (ww *watchWriter) sendShared(typ string, ev storage.Event) error {
	key := ww.q.out.info.MediaType + "\x00" + typ
	framed, err := ev.Shared.Get(key, func() ([]byte, error) { return ww.frame(typ, ev.Object) })
	if err != nil {
		return err
	}
	return ww.write(framed)
}

// bookmark sends a BOOKMARK carrying only a resource version.
func (ww *watchWriter) bookmark(rev int64, initialEventsEnd bool) error {
	var obj runtime.Object
	rv := strconv.FormatInt(rev, 10)
	if ww.q.out.as == "Table" {
		t := &metav1.Table{}
		setKind(t, schema.GroupVersion{Group: "meta.k8s.io", Version: ww.q.out.asVersion}.WithKind("Table"))
		t.ResourceVersion = rv
		return ww.sendRaw("BOOKMARK", t)
	}
	obj = ww.q.res.New()
	setKind(obj, ww.q.res.GVK())
	m, _ := meta.Accessor(obj)
	m.SetResourceVersion(rv)
	if initialEventsEnd {
		m.SetAnnotations(map[string]string{metav1.InitialEventsAnnotationKey: "true"})
	}
	return ww.send("BOOKMARK", obj)
}

func (ww *watchWriter) sendRaw(typ string, obj runtime.Object) error {
	framed, err := ww.frame(typ, obj)
	if err != nil {
		return err
	}
	return ww.write(framed)
}

func (ww *watchWriter) sendStatus(err *apierrors.StatusError) error {
	st := err.ErrStatus
	st.TypeMeta = metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}
	err2 := ww.sendRaw("ERROR", &st)
	ww.flush()
	return err2
}

func boolParam(q *request, name string) (*bool, error) {
	v := q.query(name)
	if v == "" {
		return nil, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return nil, badRequest("invalid %s: %s", name, v)
	}
	return &b, nil
}

func (s *Server) serveWatch(q *request) {
	sel, err := s.parseSelection(q)
	if err != nil {
		s.writeError(q.w, q.r, err)
		return
	}
	if q.name != "" {
		sel.fields = fields.AndSelectors(sel.fields, fields.OneTermEqualSelector("metadata.name", q.name))
	}
	rvParam := q.query("resourceVersion")
	rv, err := parseRV(rvParam)
	if err != nil {
		s.writeError(q.w, q.r, err)
		return
	}
	bookmarks, err := boolParam(q, "allowWatchBookmarks")
	if err != nil {
		s.writeError(q.w, q.r, err)
		return
	}
	sendInitial, err := boolParam(q, "sendInitialEvents")
	if err != nil {
		s.writeError(q.w, q.r, err)
		return
	}
	if sendInitial != nil {
		var errs field.ErrorList
		if q.query("resourceVersionMatch") != string(metav1.ResourceVersionMatchNotOlderThan) {
			errs = append(errs, field.Forbidden(field.NewPath("resourceVersionMatch"), "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"))
		}
		if *sendInitial && (bookmarks == nil || !*bookmarks) {
			errs = append(errs, field.Forbidden(field.NewPath("allowWatchBookmarks"), "sendInitialEvents requires setting allowWatchBookmarks to true"))
		}
		if len(errs) > 0 {
			s.writeError(q.w, q.r, invalid(metaListGK, "", errs))
			return
		}
	} else if m := q.query("resourceVersionMatch"); m != "" {
		s.writeError(q.w, q.r, invalid(metaListGK, "", field.ErrorList{field.Forbidden(field.NewPath("resourceVersionMatch"), "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided")}))
		return
	}
	timeout := minWatchTimeout + time.Duration(rand.Int64N(int64(minWatchTimeout)))
	if v := q.query("timeoutSeconds"); v != "" {
		secs, err := strconv.ParseInt(v, 10, 64)
		if err != nil || secs < 0 {
			s.writeError(q.w, q.r, badRequest("invalid timeoutSeconds: %s", v))
			return
		}
		if secs > 0 {
			timeout = time.Duration(secs) * time.Second
		}
	}
	flusher, ok := q.w.(http.Flusher)
	if !ok {
		s.writeError(q.w, q.r, errors.New("streaming is not supported by this connection"))
		return
	}
	stream := q.out.info.StreamSerializer
	if stream == nil {
		s.writeError(q.w, q.r, notAcceptable("no stream serialization for "+q.out.info.MediaType))
		return
	}
	ctx, cancel := context.WithTimeout(q.r.Context(), timeout)
	defer cancel()

	// Initial state: synthetic ADDED events for what exists, as upstream
	// does for an unset or "0" resourceVersion (or sendInitialEvents).
	prefix := storagePrefix(q.res, q.namespace)
	wantInitial := (rvParam == "" || rv == 0) && (sendInitial == nil || *sendInitial)
	if sendInitial != nil && *sendInitial {
		wantInitial = true
	}
	var initial []runtime.Object
	startRev := rv
	if wantInitial {
		list, err := s.store.List(ctx, prefix, storage.ListOptions{Consistent: rvParam == "", Filter: sel.matchesStored})
		if err != nil {
			s.writeError(q.w, q.r, toStatusError(err, q.gr(), ""))
			return
		}
		initial = list.Items
		startRev = list.Revision
		s.metrics.initialEvents.WithLabelValues(q.res.Group, q.res.Name).Inc()
	} else if rv == 0 {
		cur, err := s.store.Revision(ctx)
		if err != nil {
			s.writeError(q.w, q.r, toStatusError(err, q.gr(), ""))
			return
		}
		startRev = cur
	}
	events, err := s.store.Watch(ctx, prefix, startRev)
	if err != nil {
		s.writeError(q.w, q.r, toStatusError(err, q.gr(), ""))
		return
	}
	mt := q.out.info.MediaType
	if q.out.info.MediaType == mediaProtobuf {
		mt += ";stream=watch"
	}
	q.w.Header().Set("Content-Type", mt)
	q.w.Header().Set("Transfer-Encoding", "chunked")
	q.w.WriteHeader(http.StatusOK)
	flusher.Flush()
	ww := &watchWriter{s: s, q: q, w: q.w, flusher: flusher, enc: stream.Serializer, framer: stream.Framer, lastBookmark: time.Now()}
	s.metrics.watchers.WithLabelValues(q.res.Group, q.res.Version, q.res.Name).Inc()
	defer s.metrics.watchers.WithLabelValues(q.res.Group, q.res.Version, q.res.Name).Dec()

	for _, obj := range initial {
		out, err := s.prepareForOutput(q.res, obj)
		if err != nil || ww.send("ADDED", out) != nil {
			return
		}
	}
	if sendInitial != nil && *sendInitial {
		if ww.bookmark(startRev, true) != nil {
			return
		}
	}
	ww.flush()
	lastRev := startRev
	// A custom resource's watches end when its definition goes away.
	var gone <-chan struct{}
	if q.res.IsCustom() {
		gone = s.crds.Gone(q.res.Strategy.CRDName)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-gone:
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			if err := s.sendEvent(ww, sel, ev, rv, bookmarks != nil && *bookmarks, &lastRev); err != nil {
				return
			}
			if len(events) == 0 {
				ww.flush()
			}
		}
	}
}

// sendEvent filters and writes one store event; an object that stops (or
// starts) matching the selectors is seen as deleted (or added).
func (s *Server) sendEvent(ww *watchWriter, sel *selection, ev storage.Event, requestedRV int64, bookmarks bool, lastRev *int64) error {
	q := ww.q
	switch ev.Type {
	case storage.Error:
		if errors.Is(ev.Err, storage.ErrExpired) {
			_ = ww.sendStatus(apierrors.NewResourceExpired(fmt.Sprintf("too old resource version: %d", requestedRV)))
		} else {
			_ = ww.sendStatus(apierrors.NewInternalError(ev.Err))
		}
		return ev.Err
	case storage.Progress:
		// Progress arrives whenever etcd reports it (consistent reads ask
		// for it too); a watcher gets at most one bookmark per interval,
		// as upstream's watch cache paces them.
		if bookmarks && ev.Revision > *lastRev && time.Since(ww.lastBookmark) >= s.bookmarkInterval() {
			*lastRev = ev.Revision
			ww.lastBookmark = time.Now()
			return ww.bookmark(ev.Revision, false)
		}
		return nil
	}
	*lastRev = ev.Revision
	typ := string(ev.Type)
	cur := sel.matchesStored(ev.Object)
	switch ev.Type {
	case storage.Modified:
		prev := ev.PrevObject != nil && sel.matchesStored(ev.PrevObject)
		switch {
		case cur && !prev:
			typ = "ADDED"
		case !cur && prev:
			typ = "DELETED"
		case !cur:
			return nil
		}
	default:
		if !cur {
			return nil
		}
	}
	out, err := registry.FromStorage(q.res, ev.Object)
	if err != nil {
		return err
	}
	setKind(out, q.res.GVK())
	if ev.Shared != nil && q.out.as == "" && out == ev.Object {
		return ww.sendShared(typ, ev)
	}
	return ww.send(typ, out)
}

// bookmarkInterval is Config.BookmarkInterval or its default.
func (s *Server) bookmarkInterval() time.Duration {
	if s.cfg.BookmarkInterval > 0 {
		return s.cfg.BookmarkInterval
	}
	return time.Minute
}
