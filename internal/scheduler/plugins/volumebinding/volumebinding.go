// Package volumebinding owns the VolumeBinding plugin, kept simple: a pod's
// PersistentVolumeClaims must exist; unbound claims of an Immediate class
// keep it pending (unbound claims without a class don't: nothing in skiff
// would ever bind them); claims bound to a PersistentVolume with node affinity
// limit it to the nodes that volume reaches; WaitForFirstConsumer claims
// are feasible anywhere their class's allowed topologies allow, and once a
// node is chosen they are annotated with it so that a provisioner can act.
package volumebinding

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	storagelisters "k8s.io/client-go/listers/storage/v1"
	"k8s.io/client-go/tools/cache"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"

	"skiff/internal/scheduler/framework"
)

// Name is the plugin's name.
const Name = "VolumeBinding"

// Reasons and annotations, as upstream.
const (
	ErrReasonBindConflict        = "node(s) didn't find available persistent volumes to bind"
	ErrReasonNodeConflict        = "node(s) had volume node affinity conflict"
	ErrReasonUnboundImmediatePVC = "pod has unbound immediate PersistentVolumeClaims"
	AnnSelectedNode              = "volume.kubernetes.io/selected-node"
	stateKey                     = "volumebinding/state"
)

// Plugin is the VolumeBinding filter and permit (where it annotates the
// claims, in the binding cycle, like upstream's PreBind).
type Plugin struct {
	Client         kubernetes.Interface
	Claims         corelisters.PersistentVolumeClaimLister
	Volumes        corelisters.PersistentVolumeLister
	StorageClasses storagelisters.StorageClassLister
}

var (
	_ framework.PreFilterPlugin = (*Plugin)(nil)
	_ framework.FilterPlugin    = (*Plugin)(nil)
	_ framework.PermitPlugin    = (*Plugin)(nil)
	_ framework.Initializer     = (*Plugin)(nil)
)

// Name returns the plugin's name.
func (*Plugin) Name() string { return Name }

// Init takes the listers and retries parked pods when claims, volumes or
// classes appear or change.
func (p *Plugin) Init(h framework.Handle) error {
	f := h.SharedInformerFactory()
	p.Client = h.Client()
	p.Claims = f.Core().V1().PersistentVolumeClaims().Lister()
	p.Volumes = f.Core().V1().PersistentVolumes().Lister()
	p.StorageClasses = f.Storage().V1().StorageClasses().Lister()
	move := cache.ResourceEventHandlerFuncs{AddFunc: func(any) { h.MoveAllToActive() }, UpdateFunc: func(any, any) { h.MoveAllToActive() }}
	for _, inf := range []cache.SharedIndexInformer{f.Core().V1().PersistentVolumeClaims().Informer(),
		f.Core().V1().PersistentVolumes().Informer(), f.Storage().V1().StorageClasses().Informer()} {
		if _, err := inf.AddEventHandler(move); err != nil {
			return err
		}
	}
	return nil
}

// state is the pod's claims, sorted out once per cycle.
type state struct {
	// bound are the volumes of bound claims.
	bound []*v1.PersistentVolume
	// delayed are the WaitForFirstConsumer claims, with their classes.
	delayed []*v1.PersistentVolumeClaim
	classes []*storagev1.StorageClass
}

// claimNames lists the claims of the pod's volumes (generic ephemeral
// volumes have a claim named after the pod and the volume).
func claimNames(pod *v1.Pod) []string {
	var out []string
	for _, vol := range pod.Spec.Volumes {
		switch {
		case vol.PersistentVolumeClaim != nil:
			out = append(out, vol.PersistentVolumeClaim.ClaimName)
		case vol.Ephemeral != nil:
			out = append(out, pod.Name+"-"+vol.Name)
		}
	}
	return out
}

// PreFilter looks the pod's claims up: a missing or deleted claim, or an
// unbound claim that is not WaitForFirstConsumer, rules out every node.
func (p *Plugin) PreFilter(_ context.Context, cs *framework.CycleState, pod *v1.Pod, _ []*framework.NodeInfo) *framework.Status {
	names := claimNames(pod)
	if len(names) == 0 || p.Claims == nil {
		cs.Write(stateKey, (*state)(nil))
		return framework.NewStatus(framework.Skip)
	}
	s := &state{}
	unboundImmediate := false
	for _, name := range names {
		pvc, err := p.Claims.PersistentVolumeClaims(pod.Namespace).Get(name)
		if apierrors.IsNotFound(err) {
			return framework.NewStatus(framework.UnschedulableAndUnresolvable, fmt.Sprintf("persistentvolumeclaim %q not found", name))
		}
		if err != nil {
			return framework.AsStatus(err)
		}
		if pvc.DeletionTimestamp != nil {
			return framework.NewStatus(framework.UnschedulableAndUnresolvable, fmt.Sprintf("persistentvolumeclaim %q is being deleted", name))
		}
		if pvc.Spec.VolumeName != "" {
			pv, err := p.Volumes.Get(pvc.Spec.VolumeName)
			if apierrors.IsNotFound(err) {
				return framework.NewStatus(framework.UnschedulableAndUnresolvable,
					fmt.Sprintf("pvc %s/%s is bound to non-existent pv %s", pvc.Namespace, pvc.Name, pvc.Spec.VolumeName))
			}
			if err != nil {
				return framework.AsStatus(err)
			}
			s.bound = append(s.bound, pv)
			continue
		}
		class := p.classOf(pvc)
		switch {
		case class == nil:
			// No class (or an unknown one): skiff has no volume binder or
			// provisioner that could act, so the claim doesn't hold the
			// pod back (upstream would wait as for an Immediate class).
		case class.VolumeBindingMode != nil && *class.VolumeBindingMode == storagev1.VolumeBindingWaitForFirstConsumer:
			s.delayed = append(s.delayed, pvc)
			s.classes = append(s.classes, class)
		default:
			unboundImmediate = true
		}
	}
	if unboundImmediate {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonUnboundImmediatePVC)
	}
	cs.Write(stateKey, s)
	return nil
}

func (p *Plugin) classOf(pvc *v1.PersistentVolumeClaim) *storagev1.StorageClass {
	name := ""
	if pvc.Spec.StorageClassName != nil {
		name = *pvc.Spec.StorageClassName
	} else if v, ok := pvc.Annotations[v1.BetaStorageClassAnnotation]; ok {
		name = v
	}
	if name == "" || p.StorageClasses == nil {
		return nil
	}
	c, err := p.StorageClasses.Get(name)
	if err != nil {
		return nil
	}
	return c
}

// Filter keeps nodes every bound volume reaches and that the delayed
// claims' classes allow.
func (p *Plugin) Filter(ctx context.Context, cs *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) *framework.Status {
	v, ok := cs.Read(stateKey)
	if !ok {
		tmp := framework.NewCycleState()
		if st := p.PreFilter(ctx, tmp, pod, nil); !st.IsSuccess() && st.Code != framework.Skip {
			return st
		}
		v, _ = tmp.Read(stateKey)
	}
	s := v.(*state)
	if s == nil {
		return nil
	}
	for _, pv := range s.bound {
		if pv.Spec.NodeAffinity == nil || pv.Spec.NodeAffinity.Required == nil {
			continue
		}
		if ok, err := corev1helpers.MatchNodeSelectorTerms(ni.Node, pv.Spec.NodeAffinity.Required); err != nil || !ok {
			return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonNodeConflict)
		}
	}
	for _, c := range s.classes {
		if !allowedTopology(c, ni.Node) {
			return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonBindConflict)
		}
	}
	return nil
}

// allowedTopology says whether the class may provision for node.
func allowedTopology(c *storagev1.StorageClass, node *v1.Node) bool {
	if len(c.AllowedTopologies) == 0 {
		return true
	}
	for _, term := range c.AllowedTopologies {
		ok := true
		for _, e := range term.MatchLabelExpressions {
			v, has := node.Labels[e.Key]
			found := false
			for _, want := range e.Values {
				found = found || (has && v == want)
			}
			ok = ok && found
		}
		if ok {
			return true
		}
	}
	return false
}

// Permit annotates each WaitForFirstConsumer claim with the chosen node,
// before the pod is bound.
func (p *Plugin) Permit(ctx context.Context, cs *framework.CycleState, _ *v1.Pod, node string) (*framework.Status, time.Duration) {
	v, ok := cs.Read(stateKey)
	if !ok || p.Client == nil {
		return nil, 0
	}
	s := v.(*state)
	if s == nil {
		return nil, 0
	}
	for _, pvc := range s.delayed {
		if pvc.Annotations[AnnSelectedNode] == node {
			continue
		}
		patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{AnnSelectedNode: node}}})
		if _, err := p.Client.CoreV1().PersistentVolumeClaims(pvc.Namespace).Patch(ctx, pvc.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			return framework.AsStatus(fmt.Errorf("annotating persistentvolumeclaim %s: %w", pvc.Name, err)), 0
		}
	}
	return nil, 0
}
