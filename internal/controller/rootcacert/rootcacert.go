// Package rootcacert owns the root CA publisher: every active namespace has
// a ConfigMap kube-root-ca.crt holding the cluster CA bundle (key ca.crt),
// so that pods can verify the API server; it is put back if changed or
// deleted.
package rootcacert

import (
	"context"
	"log/slog"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"skiff/internal/controller/controllerutil"
)

// Name and key of the published ConfigMap, as upstream.
const (
	Name = "kube-root-ca.crt"
	Key  = "ca.crt"
)

const description = "The CA bundle of this cluster's API server, for clients in pods that reach it at kubernetes.default.svc or its service IP."

// Controller publishes the CA bundle in every namespace.
type Controller struct {
	client     kubernetes.Interface
	log        *slog.Logger
	ca         string
	namespaces corelisters.NamespaceLister
	configMaps corelisters.ConfigMapLister
	synced     []cache.InformerSynced
	queue      workqueue.TypedRateLimitingInterface[string] // namespace names
}

// New returns the publisher of caPEM on factory's informers.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, caPEM []byte, log *slog.Logger) *Controller {
	nsInf := factory.Core().V1().Namespaces()
	cmInf := factory.Core().V1().ConfigMaps()
	c := &Controller{
		client: client, log: log, ca: string(caPEM),
		namespaces: nsInf.Lister(), configMaps: cmInf.Lister(),
		synced: []cache.InformerSynced{nsInf.Informer().HasSynced, cmInf.Informer().HasSynced},
		queue:  controllerutil.NewQueue("root_ca_cert_publisher"),
	}
	_, _ = nsInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { controllerutil.Enqueue(c.queue, obj) },
		UpdateFunc: func(_, obj any) { controllerutil.Enqueue(c.queue, obj) },
	})
	onCM := func(obj any) {
		obj = controllerutil.Untombstone(obj)
		if cm, ok := obj.(*corev1.ConfigMap); ok && cm.Name == Name {
			c.queue.Add(cm.Namespace)
		}
	}
	_, _ = cmInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(_, obj any) { onCM(obj) }, DeleteFunc: onCM,
	})
	return c
}

// Run publishes until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	if !controllerutil.WaitForSync(ctx, c.synced...) {
		return nil
	}
	controllerutil.RunWorkers(ctx, c.queue, 2, c.log, c.sync)
	return nil
}

func (c *Controller) sync(ctx context.Context, name string) error {
	if active, err := controllerutil.NamespaceActive(c.namespaces, name); !active || err != nil {
		return err
	}
	cm, err := c.configMaps.ConfigMaps(name).Get(Name)
	if apierrors.IsNotFound(err) {
		_, err = c.client.CoreV1().ConfigMaps(name).Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: Name, Annotations: map[string]string{"kubernetes.io/description": description}},
			Data:       map[string]string{Key: c.ca},
		}, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) || (apierrors.IsForbidden(err) && apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause)) {
			return nil
		}
		return err
	}
	if err != nil {
		return err
	}
	if len(cm.Data) == 1 && cm.Data[Key] == c.ca && len(cm.BinaryData) == 0 {
		return nil
	}
	upd := cm.DeepCopy()
	upd.Data = map[string]string{Key: c.ca}
	upd.BinaryData = nil
	_, err = c.client.CoreV1().ConfigMaps(name).Update(ctx, upd, metav1.UpdateOptions{})
	if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
		c.queue.Add(name)
		return nil
	}
	return err
}
