// Package bootstrapsigner owns the join tokens' side of the cluster-info
// ConfigMap: it signs kube-public/cluster-info's kubeconfig with every
// valid bootstrap token (so that a joining node holding a token can trust
// the CA it reads there without any other secret) and deletes bootstrap
// token Secrets once they expire, as upstream's bootstrap signer and token
// cleaner do.
package bootstrapsigner

import (
	"context"
	"log/slog"
	"maps"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"skiff/internal/bootstraptoken"
	"skiff/internal/controller/controllerutil"
)

// Controller signs cluster-info and removes expired tokens.
type Controller struct {
	client     kubernetes.Interface
	log        *slog.Logger
	configMaps corelisters.ConfigMapLister
	secrets    corelisters.SecretLister
	synced     []cache.InformerSynced
	queue      workqueue.TypedRateLimitingInterface[string]
	now        func() time.Time
}

const signKey = "cluster-info"

// New returns the controller on factory's informers.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, log *slog.Logger) *Controller {
	cmInf := factory.Core().V1().ConfigMaps()
	secInf := factory.Core().V1().Secrets()
	c := &Controller{
		client: client, log: log, configMaps: cmInf.Lister(), secrets: secInf.Lister(),
		synced: []cache.InformerSynced{cmInf.Informer().HasSynced, secInf.Informer().HasSynced},
		queue:  controllerutil.NewQueue("bootstrap_signer"),
		now:    time.Now,
	}
	onCM := func(obj any) {
		obj = controllerutil.Untombstone(obj)
		if cm, ok := obj.(*corev1.ConfigMap); ok && cm.Namespace == bootstraptoken.ClusterInfoNamespace && cm.Name == bootstraptoken.ClusterInfoName {
			c.queue.Add(signKey)
		}
	}
	onSecret := func(obj any) {
		obj = controllerutil.Untombstone(obj)
		if s, ok := obj.(*corev1.Secret); ok && s.Namespace == metav1.NamespaceSystem && s.Type == bootstraptoken.SecretType {
			c.queue.Add(signKey)
			c.queue.Add(s.Name)
		}
	}
	_, _ = cmInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: onCM, UpdateFunc: func(_, n any) { onCM(n) }})
	_, _ = secInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: onSecret, UpdateFunc: func(_, n any) { onSecret(n) }, DeleteFunc: onSecret})
	return c
}

// Run works until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	if !controllerutil.WaitForSync(ctx, c.synced...) {
		return nil
	}
	controllerutil.RunWorkers(ctx, c.queue, 1, c.log, c.sync)
	return nil
}

func (c *Controller) sync(ctx context.Context, key string) error {
	if key == signKey {
		return c.sign(ctx)
	}
	return c.clean(ctx, key)
}

// sign makes cluster-info's signatures those of the valid signing tokens.
func (c *Controller) sign(ctx context.Context) error {
	cm, err := c.configMaps.ConfigMaps(bootstraptoken.ClusterInfoNamespace).Get(bootstraptoken.ClusterInfoName)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	payload, ok := cm.Data[bootstraptoken.KubeconfigKey]
	if !ok {
		return nil
	}
	secrets, err := c.secrets.Secrets(metav1.NamespaceSystem).List(labels.Everything())
	if err != nil {
		return err
	}
	want := map[string]string{}
	for k, v := range cm.Data {
		if !strings.HasPrefix(k, bootstraptoken.JWSKeyPrefix) {
			want[k] = v
		}
	}
	for _, s := range secrets {
		id, secret, ok := bootstraptoken.Valid(s, bootstraptoken.KeySignUsage, c.now())
		if !ok {
			continue
		}
		key := bootstraptoken.JWSKeyPrefix + id
		// A signature is only remade when it no longer verifies: HS256 is
		// deterministic, so this also keeps the object still.
		if old, ok := cm.Data[key]; ok && bootstraptoken.Verify(old, []byte(payload), id, secret) {
			want[key] = old
			continue
		}
		want[key] = bootstraptoken.Sign([]byte(payload), id, secret)
	}
	if maps.Equal(want, cm.Data) {
		return nil
	}
	upd := cm.DeepCopy()
	upd.Data = want
	_, err = c.client.CoreV1().ConfigMaps(cm.Namespace).Update(ctx, upd, metav1.UpdateOptions{})
	if apierrors.IsConflict(err) {
		return nil // the informer brings the newer one back here
	}
	return err
}

// clean deletes an expired token Secret, or looks again at expiry.
func (c *Controller) clean(ctx context.Context, name string) error {
	s, err := c.secrets.Secrets(metav1.NamespaceSystem).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil || s.Type != bootstraptoken.SecretType {
		return err
	}
	exp := string(s.Data[bootstraptoken.KeyExpiration])
	if exp == "" {
		return nil
	}
	if t, perr := time.Parse(time.RFC3339, exp); perr == nil && t.After(c.now()) {
		c.queue.AddAfter(name, t.Sub(c.now())+time.Second)
		return nil
	}
	err = c.client.CoreV1().Secrets(metav1.NamespaceSystem).Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &s.UID}})
	if err == nil {
		c.log.Info("deleted expired bootstrap token", "secret", name)
	}
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	return err
}
