// Package nodeipam owns the node IPAM controller: every Node gets a pod
// CIDR (a /24 by default) from the cluster CIDR, recorded in
// spec.podCIDR(s), which its agent then uses for its pods.
package nodeipam

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"skiff/internal/controller/controllerutil"
)

// Controller assigns pod CIDRs to nodes.
type Controller struct {
	client  kubernetes.Interface
	log     *slog.Logger
	cluster *net.IPNet
	maskLen int
	queue   workqueue.TypedRateLimitingInterface[string]

	mu   sync.Mutex
	used map[uint32]string // subnet index -> node
}

// New returns a controller handing out /maskLen subnets of clusterCIDR.
func New(client kubernetes.Interface, clusterCIDR string, maskLen int, log *slog.Logger) (*Controller, error) {
	_, cluster, err := net.ParseCIDR(clusterCIDR)
	if err != nil || cluster.IP.To4() == nil {
		return nil, fmt.Errorf("invalid cluster CIDR %q: an IPv4 CIDR is required", clusterCIDR)
	}
	ones, _ := cluster.Mask.Size()
	if maskLen < ones || maskLen > 30 {
		return nil, fmt.Errorf("node mask /%d does not fit in cluster CIDR %s", maskLen, clusterCIDR)
	}
	return &Controller{
		client: client, log: log, cluster: cluster, maskLen: maskLen, used: map[uint32]string{},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "nodeipam"}),
	}, nil
}

// subnets is how many node subnets the cluster CIDR holds.
func (c *Controller) subnets() uint32 {
	ones, _ := c.cluster.Mask.Size()
	return 1 << uint(c.maskLen-ones)
}

func (c *Controller) subnet(i uint32) string {
	base := binary.BigEndian.Uint32(c.cluster.IP.To4())
	ip := make(net.IP, 4)
	binary.BigEndian.PutUint32(ip, base+i<<uint(32-c.maskLen))
	return (&net.IPNet{IP: ip, Mask: net.CIDRMask(c.maskLen, 32)}).String()
}

// index returns which subnet cidr is, if it is one of ours.
func (c *Controller) index(cidr string) (uint32, bool) {
	ip, n, err := net.ParseCIDR(cidr)
	if err != nil || ip.To4() == nil || !c.cluster.Contains(ip) {
		return 0, false
	}
	if ones, _ := n.Mask.Size(); ones != c.maskLen {
		return 0, false
	}
	off := binary.BigEndian.Uint32(n.IP.To4()) - binary.BigEndian.Uint32(c.cluster.IP.To4())
	return off >> uint(32-c.maskLen), true
}

// Run assigns CIDRs until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	defer c.queue.ShutDown()
	factory := informers.NewSharedInformerFactory(c.client, 10*time.Minute)
	nodes := factory.Core().V1().Nodes()
	track := func(obj interface{}) {
		n, ok := obj.(*corev1.Node)
		if !ok {
			return
		}
		if n.Spec.PodCIDR != "" {
			if i, ok := c.index(n.Spec.PodCIDR); ok {
				c.mu.Lock()
				c.used[i] = n.Name
				c.mu.Unlock()
			}
			return
		}
		c.queue.Add(n.Name)
	}
	if _, err := nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    track,
		UpdateFunc: func(_, obj interface{}) { track(obj) },
		DeleteFunc: func(obj interface{}) {
			obj = controllerutil.Untombstone(obj)
			if n, ok := obj.(*corev1.Node); ok {
				if i, ok := c.index(n.Spec.PodCIDR); ok {
					c.mu.Lock()
					if c.used[i] == n.Name {
						delete(c.used, i)
					}
					c.mu.Unlock()
				}
			}
		},
	}); err != nil {
		return err
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	// Every existing assignment is known before anything new is handed out.
	if !cache.WaitForCacheSync(ctx.Done(), nodes.Informer().HasSynced) {
		return nil
	}
	go func() {
		<-ctx.Done()
		c.queue.ShutDown()
	}()
	for {
		name, quit := c.queue.Get()
		if quit {
			return nil
		}
		if err := c.assign(ctx, name); err != nil && ctx.Err() == nil {
			c.log.Warn("assigning a pod CIDR", "node", name, "err", err)
			c.queue.AddRateLimited(name)
		} else {
			c.queue.Forget(name)
		}
		c.queue.Done(name)
	}
}

var errFull = errors.New("no pod CIDR left in the cluster CIDR")

func (c *Controller) assign(ctx context.Context, name string) error {
	node, err := c.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if node.Spec.PodCIDR != "" {
		return nil
	}
	c.mu.Lock()
	var pick uint32
	found := false
	for i := uint32(0); i < c.subnets(); i++ {
		if _, taken := c.used[i]; !taken {
			pick, found = i, true
			break
		}
	}
	if found {
		c.used[pick] = name
	}
	c.mu.Unlock()
	if !found {
		return errFull
	}
	cidr := c.subnet(pick)
	patch := fmt.Sprintf(`{"spec":{"podCIDR":%q,"podCIDRs":[%q]}}`, cidr, cidr)
	if _, err := c.client.CoreV1().Nodes().Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		c.mu.Lock()
		delete(c.used, pick)
		c.mu.Unlock()
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	}
	c.log.Info("assigned pod CIDR", "node", name, "podCIDR", cidr)
	return nil
}
