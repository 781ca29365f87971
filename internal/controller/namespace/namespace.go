// Package namespace owns the namespace controller: when a namespace is
// deleted it removes everything in it, then lets the namespace itself go by
// removing the "kubernetes" finalizer through the finalize subresource.
package namespace

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// finalizerName is the spec finalizer every namespace starts with.
const finalizerName = corev1.FinalizerKubernetes

// Controller empties and finalizes deleted namespaces.
type Controller struct {
	client   kubernetes.Interface
	metadata metadata.Interface
	log      *slog.Logger
	queue    workqueue.TypedRateLimitingInterface[string]
}

// New returns a namespace controller using the given clients.
func New(client kubernetes.Interface, meta metadata.Interface, log *slog.Logger) *Controller {
	return &Controller{
		client:   client,
		metadata: meta,
		log:      log,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "namespace"}),
	}
}

// Run watches namespaces until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	defer c.queue.ShutDown()
	factory := informers.NewSharedInformerFactory(c.client, 5*time.Minute)
	inf := factory.Core().V1().Namespaces().Informer()
	enqueue := func(obj interface{}) {
		if ns, ok := obj.(*corev1.Namespace); ok && ns.DeletionTimestamp != nil {
			c.queue.Add(ns.Name)
		}
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj interface{}) { enqueue(obj) },
	}); err != nil {
		return err
	}
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return ctx.Err()
	}
	go func() {
		<-ctx.Done()
		c.queue.ShutDown()
	}()
	for c.processNext(ctx) {
	}
	factory.Shutdown()
	return nil
}

func (c *Controller) processNext(ctx context.Context) bool {
	name, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(name)
	requeue, err := c.sync(ctx, name)
	switch {
	case err != nil:
		c.log.Warn("namespace cleanup", "namespace", name, "err", err)
		c.queue.AddRateLimited(name)
	case requeue:
		c.queue.AddAfter(name, 2*time.Second)
	default:
		c.queue.Forget(name)
	}
	return true
}

// sync deletes a terminating namespace's content; once nothing is left it
// removes the namespace's finalizer. It reports whether to look again.
func (c *Controller) sync(ctx context.Context, name string) (bool, error) {
	ns, err := c.client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if ns.DeletionTimestamp == nil || !hasFinalizer(ns) {
		return false, nil
	}
	resources, err := deletableResources(c.client.Discovery())
	if err != nil {
		return false, err
	}
	remaining := 0
	background := metav1.DeletePropagationBackground
	for _, gvr := range resources {
		ri := c.metadata.Resource(gvr).Namespace(name)
		err := ri.DeleteCollection(ctx, metav1.DeleteOptions{PropagationPolicy: &background}, metav1.ListOptions{})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsMethodNotSupported(err) {
			return false, fmt.Errorf("deleting %s: %w", gvr.Resource, err)
		}
		list, err := ri.List(ctx, metav1.ListOptions{})
		if err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return false, fmt.Errorf("listing %s: %w", gvr.Resource, err)
		}
		remaining += len(list.Items)
	}
	if remaining > 0 {
		return true, nil
	}
	var keep []corev1.FinalizerName
	for _, f := range ns.Spec.Finalizers {
		if f != finalizerName {
			keep = append(keep, f)
		}
	}
	ns.Spec.Finalizers = keep
	if _, err := c.client.CoreV1().Namespaces().Finalize(ctx, ns, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return false, err
	}
	c.log.Info("namespace deleted", "namespace", name)
	return false, nil
}

func hasFinalizer(ns *corev1.Namespace) bool {
	for _, f := range ns.Spec.Finalizers {
		if f == finalizerName {
			return true
		}
	}
	return false
}

// deletableResources lists the namespaced resources that can be listed and
// deleted as a collection.
func deletableResources(d discovery.DiscoveryInterface) ([]schema.GroupVersionResource, error) {
	lists, err := d.ServerPreferredNamespacedResources()
	if err != nil && len(lists) == 0 {
		return nil, err
	}
	var out []schema.GroupVersionResource
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			continue
		}
		for _, r := range l.APIResources {
			if has(r.Verbs, "list") && has(r.Verbs, "deletecollection") {
				out = append(out, gv.WithResource(r.Name))
			}
		}
	}
	return out, nil
}

func has(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
