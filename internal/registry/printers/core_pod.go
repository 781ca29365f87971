package printers

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func init() {
	register(schema.GroupKind{Kind: "Pod"}, []metav1.TableColumnDefinition{
		nameColumn,
		column("Ready", "string", "The aggregate readiness state of this pod for accepting traffic."),
		column("Status", "string", "The aggregate status of the containers in this pod."),
		column("Restarts", "string", "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted."),
		ageColumn,
		wideColumn("IP", "string", corev1.PodStatus{}.SwaggerDoc()["podIP"]),
		wideColumn("Node", "string", corev1.PodSpec{}.SwaggerDoc()["nodeName"]),
		wideColumn("Nominated Node", "string", corev1.PodStatus{}.SwaggerDoc()["nominatedNodeName"]),
		wideColumn("Readiness Gates", "string", corev1.PodSpec{}.SwaggerDoc()["readinessGates"]),
	}, podRow)

	register(schema.GroupKind{Kind: "PodTemplate"}, []metav1.TableColumnDefinition{
		nameColumn,
		column("Containers", "string", containersDescription),
		column("Images", "string", imagesDescription),
		column("Pod Labels", "string", "The labels for the pod template."),
	}, func(t *corev1.PodTemplate, _ time.Time) ([]interface{}, error) {
		names, images := containerCells(t.Template.Spec.Containers)
		return []interface{}{t.Name, names, images, labels.FormatLabels(t.Template.Labels)}, nil
	})
}

// nodeLostReason is the status reason the node lifecycle controller gives
// pods on a node that stopped reporting.
const nodeLostReason = "NodeLost"

func podRow(p *corev1.Pod, now time.Time) ([]interface{}, error) {
	st := podStatusSummary(p)

	restarts := strconv.Itoa(st.restarts)
	if st.restarts != 0 && !st.lastRestart.IsZero() {
		restarts = fmt.Sprintf("%d (%s ago)", st.restarts, since(metav1.NewTime(st.lastRestart), now))
	}

	ip := p.Status.PodIP
	if len(p.Status.PodIPs) > 0 {
		ip = p.Status.PodIPs[0].IP
	}
	return []interface{}{
		p.Name,
		fmt.Sprintf("%d/%d", st.ready, st.total),
		st.reason,
		restarts,
		since(p.CreationTimestamp, now),
		orNone(ip),
		orNone(p.Spec.NodeName),
		orNone(p.Status.NominatedNodeName),
		readinessGates(p),
	}, nil
}

type podSummary struct {
	ready, total int
	reason       string
	restarts     int
	lastRestart  time.Time
}

// podStatusSummary derives the READY, STATUS and RESTARTS cells. STATUS is
// the most telling reason available: the pod's own reason, then the first
// init container that has not finished, then the last main container that is
// waiting or terminated, and finally Terminating for pods being deleted.
func podStatusSummary(p *corev1.Pod) podSummary {
	s := podSummary{total: len(p.Spec.Containers), reason: string(p.Status.Phase)}
	if p.Status.Reason != "" {
		s.reason = p.Status.Reason
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Reason == corev1.PodReasonSchedulingGated {
			s.reason = corev1.PodReasonSchedulingGated
		}
	}

	// Sidecars (init containers that keep running) count as containers.
	sidecars := map[string]bool{}
	for _, c := range p.Spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			sidecars[c.Name] = true
			s.total++
		}
	}

	var sidecarRestarts int
	var sidecarLastRestart time.Time
	initializing := false
	for i, cs := range p.Status.InitContainerStatuses {
		s.restarts += int(cs.RestartCount)
		s.lastRestart = later(s.lastRestart, cs)
		if sidecars[cs.Name] {
			sidecarRestarts += int(cs.RestartCount)
			sidecarLastRestart = later(sidecarLastRestart, cs)
		}
		reason, state := initContainerState(cs, sidecars[cs.Name], i, len(p.Spec.InitContainers))
		if state == initBlocking {
			s.reason = reason
			initializing = true
			break
		}
		if state == initSidecarStarted && cs.Ready {
			s.ready++
		}
	}

	if !initializing || podConditionTrue(p, corev1.PodInitialized) {
		// Restarts of finished init containers no longer matter; those of
		// sidecars do, as they keep running next to the main containers.
		s.restarts = sidecarRestarts
		s.lastRestart = sidecarLastRestart
		running := false
		for i := len(p.Status.ContainerStatuses) - 1; i >= 0; i-- {
			cs := p.Status.ContainerStatuses[i]
			s.restarts += int(cs.RestartCount)
			s.lastRestart = later(s.lastRestart, cs)
			switch {
			case cs.State.Waiting != nil && cs.State.Waiting.Reason != "":
				s.reason = cs.State.Waiting.Reason
			case cs.State.Terminated != nil && cs.State.Terminated.Reason != "":
				s.reason = cs.State.Terminated.Reason
			case cs.State.Terminated != nil:
				s.reason = exitReason("", cs.State.Terminated)
			case cs.Ready && cs.State.Running != nil:
				running = true
				s.ready++
			}
		}
		// A completed container next to a running one does not make the
		// pod Completed.
		if s.reason == "Completed" && running {
			if podConditionTrue(p, corev1.PodReady) {
				s.reason = "Running"
			} else {
				s.reason = "NotReady"
			}
		}
	}

	if p.DeletionTimestamp != nil {
		if p.Status.Reason == nodeLostReason {
			s.reason = "Unknown"
		} else if p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			s.reason = "Terminating"
		}
	}
	return s
}

type initState int

const (
	initDone           initState = iota // finished successfully
	initSidecarStarted                  // a sidecar that is up
	initBlocking                        // still holding the pod up
)

// initContainerState classifies init container i and, when it still holds
// up the pod, names the STATUS the pod shows.
func initContainerState(cs corev1.ContainerStatus, sidecar bool, i, count int) (string, initState) {
	switch {
	case cs.State.Terminated != nil && cs.State.Terminated.ExitCode == 0:
		return "", initDone
	case sidecar && cs.Started != nil && *cs.Started:
		return "", initSidecarStarted
	case cs.State.Terminated != nil:
		return exitReason("Init:", cs.State.Terminated), initBlocking
	case cs.State.Waiting != nil && cs.State.Waiting.Reason != "" && cs.State.Waiting.Reason != "PodInitializing":
		return "Init:" + cs.State.Waiting.Reason, initBlocking
	default:
		return fmt.Sprintf("Init:%d/%d", i, count), initBlocking
	}
}

// exitReason names a termination by its reason, else its signal, else its
// exit code.
func exitReason(prefix string, t *corev1.ContainerStateTerminated) string {
	switch {
	case t.Reason != "":
		return prefix + t.Reason
	case t.Signal != 0:
		return fmt.Sprintf("%sSignal:%d", prefix, t.Signal)
	default:
		return fmt.Sprintf("%sExitCode:%d", prefix, t.ExitCode)
	}
}

// later returns the later of t and the container's last termination time.
func later(t time.Time, cs corev1.ContainerStatus) time.Time {
	if last := cs.LastTerminationState.Terminated; last != nil && t.Before(last.FinishedAt.Time) {
		return last.FinishedAt.Time
	}
	return t
}

func podConditionTrue(p *corev1.Pod, t corev1.PodConditionType) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == t {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// readinessGates shows how many of the pod's readiness gates are met.
func readinessGates(p *corev1.Pod) string {
	if len(p.Spec.ReadinessGates) == 0 {
		return "<none>"
	}
	met := 0
	for _, gate := range p.Spec.ReadinessGates {
		if podConditionTrue(p, gate.ConditionType) {
			met++
		}
	}
	return fmt.Sprintf("%d/%d", met, len(p.Spec.ReadinessGates))
}

// containerCells lays out a template's container names and images, comma
// separated, for the CONTAINERS and IMAGES columns.
func containerCells(containers []corev1.Container) (string, string) {
	names := make([]string, len(containers))
	images := make([]string, len(containers))
	for i, c := range containers {
		names[i] = c.Name
		images[i] = c.Image
	}
	return strings.Join(names, ","), strings.Join(images, ",")
}
