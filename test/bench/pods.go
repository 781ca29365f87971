package main

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
)

// podFigures are the LIST-from-the-watch-cache figures: a consistent and an
// any-version LIST of every pod against a linearizable etcd range of the
// same keys (with and without decoding the values).
type podFigures struct {
	create                  *result
	listConsistent, listAny *result
	listRaw                 *result // consistent, body read but not decoded
	// The same two lists by a client that does not accept gzip
	// (client-go's DisableCompression, kubectl --disable-compression).
	listPlain, listRawPlain *result
	rangeRaw, rangeDecode   *result
	// The same list's bytes from a static in-memory HTTPS server: the
	// floor of any LIST over HTTP on this machine (see staticFloor).
	staticGzip, staticPlain     *result
	valueSize, respBytes        int
	wireBytes                   int // one list as it crosses the wire (gzip, as client-go asks)
	storedFormat                string
	etcdConsistent, etcdAnyList phaseEtcd
	// server* are the mean time the API server spent on each list of the
	// phase, from its apiserver_request_duration_seconds metric (handler
	// start to the last byte handed to HTTP/2, so it includes sending
	// while the client reads); -1 when unknown.
	serverConsistent, serverAny, serverRaw float64
}

// serverListSeconds returns the count and sum of the API server's pod LIST
// request durations, from its metrics.
func serverListSeconds(ctx context.Context, kc *kubernetes.Clientset) (count, sum float64, err error) {
	body, err := kc.Discovery().RESTClient().Get().AbsPath("/metrics").SetHeader("Accept", "text/plain").DoRaw(ctx)
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.Contains(line, `resource="pods"`) || !strings.Contains(line, `verb="LIST"`) || !strings.Contains(line, `subresource=""`) {
			continue
		}
		name, rest, _ := strings.Cut(line, "{")
		_, val, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(val, &v); err != nil {
			continue
		}
		switch name {
		case "apiserver_request_duration_seconds_count":
			count += v
		case "apiserver_request_duration_seconds_sum":
			sum += v
		}
	}
	return count, sum, nil
}

// serverMean runs phase and returns the API server's mean pod LIST time in
// it, in milliseconds (-1 when the metric could not be read).
func serverMean(ctx context.Context, kc *kubernetes.Clientset, phase func() error) (float64, error) {
	c0, s0, err0 := serverListSeconds(ctx, kc)
	if err := phase(); err != nil {
		return -1, err
	}
	c1, s1, err1 := serverListSeconds(ctx, kc)
	if err0 != nil || err1 != nil || c1 <= c0 {
		return -1, nil
	}
	return (s1 - s0) / (c1 - c0) * 1000, nil
}

func podName(i int) string { return fmt.Sprintf("pod-%05d", i) }

// newPod is a realistic small pod: one container with requests, a few
// labels.
func newPod(i int) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: podName(i), Namespace: namespace,
			Labels: map[string]string{"app": "bench", "tier": []string{"web", "api", "worker"}[i%3], "shard": fmt.Sprint(i % 16)},
		},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name:  "app",
				Image: "registry.k8s.io/pause:3.10",
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}},
				Env:   []corev1.EnvVar{{Name: "SHARD", Value: fmt.Sprint(i % 16)}},
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
					corev1.ResourceCPU:    resource.MustParse("10m"),
					corev1.ResourceMemory: resource.MustParse("16Mi"),
				}},
			}},
		},
	}
}

// podListBench creates o.pods pods through the API, then times LISTs of all
// of them against raw etcd ranges of their keys.
func podListBench(ctx context.Context, out io.Writer, o options, kc *kubernetes.Clientset, kcfg *rest.Config, ec *clientv3.Client, metrics func() map[string]opStat) (*podFigures, error) {
	pf := &podFigures{}
	pods := kc.CoreV1().Pods(namespace)
	objs := make([]*corev1.Pod, o.pods)
	for i := range objs {
		objs[i] = newPod(i)
		// A scheduler that does not run: the pods stay Pending without
		// retries (and their events) while the lists are timed.
		objs[i].Spec.SchedulerName = "bench-unscheduled"
	}
	var err error
	if pf.create, err = measure(out, func() (*result, error) {
		return parallel(ctx, "api pod create", o.workers, o.pods, func(ctx context.Context, _, i int) error {
			_, err := pods.Create(ctx, objs[i], metav1.CreateOptions{})
			return err
		})
	}); err != nil {
		return nil, err
	}
	objs = nil

	prefix := "/registry/pods/" + namespace + "/"
	gr, err := ec.Get(ctx, prefix+podName(0))
	if err != nil || len(gr.Kvs) != 1 {
		return nil, fmt.Errorf("reading stored pod from etcd: %v (found %d)", err, len(gr.Kvs))
	}
	pf.valueSize = len(gr.Kvs[0].Value)
	pf.storedFormat = "json"
	if strings.HasPrefix(string(gr.Kvs[0].Value), "k8s\x00") {
		pf.storedFormat = "protobuf"
	}
	// Recognises protobuf (by its envelope) and JSON; decodes without
	// conversion or defaulting, as the API server's storage codec does.
	dec := serializer.NewCodecFactory(scheme.Scheme).UniversalDeserializer()

	// Warm up (not measured): starts the pods' watch cache and the code paths.
	for range 2 {
		l, err := pods.List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("warm-up pod list: %w", err)
		}
		pf.respBytes = l.Size()
		if _, err := ec.Get(ctx, prefix, clientv3.WithPrefix()); err != nil {
			return nil, fmt.Errorf("warm-up pod range: %w", err)
		}
	}

	// client-go accepts gzip unless told otherwise; its transport then
	// decompresses. Asking explicitly keeps the body as it was sent.
	wire, err := kc.CoreV1().RESTClient().Get().Namespace(namespace).Resource("pods").
		SetHeader("Accept", mediaProto).SetHeader("Accept-Encoding", "gzip").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("pod list as sent: %w", err)
	}
	pf.wireBytes = len(wire)

	count := func(what string, got int) error {
		if got != o.pods {
			return fmt.Errorf("%s returned %d pods, want %d", what, got, o.pods)
		}
		return nil
	}
	if pf.rangeRaw, err = measure(out, func() (*result, error) {
		return sequential(ctx, "etcd pod range", o.lists, func(ctx context.Context, _ int) error {
			r, err := ec.Get(ctx, prefix, clientv3.WithPrefix())
			if err != nil {
				return err
			}
			return count("range", len(r.Kvs))
		})
	}); err != nil {
		return nil, err
	}
	if pf.rangeDecode, err = measure(out, func() (*result, error) {
		return sequential(ctx, "etcd pod range+decode", o.lists, func(ctx context.Context, _ int) error {
			r, err := ec.Get(ctx, prefix, clientv3.WithPrefix())
			if err != nil {
				return err
			}
			for _, kv := range r.Kvs {
				obj, _, err := dec.Decode(kv.Value, nil, &corev1.Pod{})
				if err != nil {
					return fmt.Errorf("decoding %s: %w", kv.Key, err)
				}
				if _, ok := obj.(*corev1.Pod); !ok {
					return errors.New("decoded value is not a Pod")
				}
			}
			return count("range", len(r.Kvs))
		})
	}); err != nil {
		return nil, err
	}
	list := func(name, rv string) (r *result, ph phaseEtcd, server float64, err error) {
		m0 := metrics()
		server, err = serverMean(ctx, kc, func() (err error) {
			r, err = measure(out, func() (*result, error) {
				return sequential(ctx, name, o.lists, func(ctx context.Context, _ int) error {
					l, err := pods.List(ctx, metav1.ListOptions{ResourceVersion: rv})
					if err != nil {
						return err
					}
					return count("list", len(l.Items))
				})
			})
			return err
		})
		return r, phaseEtcd{strings.TrimPrefix(name, "api "), o.lists, diffStats(m0, metrics())}, server, err
	}
	if pf.listConsistent, pf.etcdConsistent, pf.serverConsistent, err = list("api pod list rv=\"\"", ""); err != nil {
		return nil, err
	}
	if pf.listAny, pf.etcdAnyList, pf.serverAny, err = list("api pod list rv=0", "0"); err != nil {
		return nil, err
	}
	// The same consistent list, its body read but not decoded: the server's
	// share of the list (plus transfer), without client-go's decoding.
	if pf.serverRaw, err = serverMean(ctx, kc, func() (err error) {
		pf.listRaw, err = measure(out, func() (*result, error) {
			return sequential(ctx, "api pod list rv=\"\" undecoded", o.lists, func(ctx context.Context, _ int) error {
				body, err := kc.CoreV1().RESTClient().Get().Namespace(namespace).Resource("pods").
					SetHeader("Accept", mediaProto).DoRaw(ctx)
				if err == nil && len(body) < pf.respBytes {
					err = fmt.Errorf("list body is %d bytes, a decoded list was %d", len(body), pf.respBytes)
				}
				return err
			})
		})
		return err
	}); err != nil {
		return nil, err
	}
	// Without compression: what a client that turns it off gets.
	pcfg := rest.CopyConfig(kcfg)
	pcfg.DisableCompression = true
	plain, err := kubernetes.NewForConfig(pcfg)
	if err != nil {
		return nil, err
	}
	if pf.listPlain, err = measure(out, func() (*result, error) {
		return sequential(ctx, "api pod list rv=\"\" no-gzip", o.lists, func(ctx context.Context, _ int) error {
			l, err := plain.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{})
			if err != nil {
				return err
			}
			return count("list", len(l.Items))
		})
	}); err != nil {
		return nil, err
	}
	if pf.listRawPlain, err = measure(out, func() (*result, error) {
		return sequential(ctx, "api pod list rv=\"\" undecoded no-gzip", o.lists, func(ctx context.Context, _ int) error {
			body, err := plain.CoreV1().RESTClient().Get().Namespace(namespace).Resource("pods").
				SetHeader("Accept", mediaProto).DoRaw(ctx)
			if err == nil && len(body) < pf.respBytes {
				err = fmt.Errorf("list body is %d bytes, a decoded list was %d", len(body), pf.respBytes)
			}
			return err
		})
	}); err != nil {
		return nil, err
	}
	body, err := plain.CoreV1().RESTClient().Get().Namespace(namespace).Resource("pods").
		SetHeader("Accept", mediaProto).DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("pod list for the static server: %w", err)
	}
	if pf.staticGzip, pf.staticPlain, err = staticFloor(ctx, out, o, kcfg, body, wire); err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "BENCH api pod list server-side mean_ms rv=\"\"=%.2f rv=0=%.2f undecoded=%.2f\n", pf.serverConsistent, pf.serverAny, pf.serverRaw)
	return pf, nil
}

// speedup is how many times faster b's latency percentile p is than a's
// (a: the etcd reference, b: the API figure).
func speedup(ref, api *result, p float64) string {
	return ratio(float64(ref.pct(p)), float64(api.pct(p)))
}

func (pf *podFigures) ratioLine() string {
	return fmt.Sprintf("BENCH ratio pod-list-speedup range/list_p50=%s range/list_p99=%s range/list-rv0_p50=%s range/list-rv0_p99=%s range/list-undecoded_p50=%s range/list-undecoded_p99=%s range+decode/list_p50=%s range+decode/list_p99=%s",
		speedup(pf.rangeRaw, pf.listConsistent, 50), speedup(pf.rangeRaw, pf.listConsistent, 99),
		speedup(pf.rangeRaw, pf.listAny, 50), speedup(pf.rangeRaw, pf.listAny, 99),
		speedup(pf.rangeRaw, pf.listRaw, 50), speedup(pf.rangeRaw, pf.listRaw, 99),
		speedup(pf.rangeDecode, pf.listConsistent, 50), speedup(pf.rangeDecode, pf.listConsistent, 99))
}

// staticFloor times fetching the very bytes of one pod list from a stdlib
// HTTPS server that holds them in memory (HTTP/2, TLS, as the API server
// serves), with the same client-go REST client: no API server does less
// per list, so this is the floor any LIST over HTTP has on this machine.
// gz is the list as the API server sent it gzip-compressed.
func staticFloor(ctx context.Context, out io.Writer, o options, base *rest.Config, plain, gz []byte) (withGzip, noGzip *result, err error) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", mediaProto)
		if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			w.Header().Set("Content-Encoding", "gzip")
			_, _ = w.Write(gz)
			return
		}
		_, _ = w.Write(plain)
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	fetch := func(name string, disableCompression bool) (*result, error) {
		cfg := rest.CopyConfig(base)
		cfg.Host = srv.URL
		cfg.TLSClientConfig = rest.TLSClientConfig{CAData: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})}
		cfg.BearerToken, cfg.BearerTokenFile, cfg.Username, cfg.Password = "", "", "", ""
		cfg.DisableCompression = disableCompression
		kc, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return nil, err
		}
		return measure(out, func() (*result, error) {
			return sequential(ctx, name, o.lists, func(ctx context.Context, _ int) error {
				body, err := kc.CoreV1().RESTClient().Get().AbsPath("/list").DoRaw(ctx)
				if err == nil && len(body) != len(plain) {
					err = fmt.Errorf("static body is %d bytes, want %d", len(body), len(plain))
				}
				return err
			})
		})
	}
	if withGzip, err = fetch("static pod list undecoded", false); err != nil {
		return nil, nil, err
	}
	if noGzip, err = fetch("static pod list undecoded no-gzip", true); err != nil {
		return nil, nil, err
	}
	return withGzip, noGzip, nil
}
