package job

import (
	"fmt"
	"slices"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// matchPodFailurePolicy finds the first rule of the job's pod failure
// policy that a failed pod matches. It returns the rule's action and the
// message explaining the match, or nil when no rule matches (the failure
// then counts against the backoff limit as usual).
func matchPodFailurePolicy(policy *batchv1.PodFailurePolicy, p *corev1.Pod) (*batchv1.PodFailurePolicyAction, string) {
	if policy == nil || p.Status.Phase != corev1.PodFailed {
		return nil, ""
	}
	for i, rule := range policy.Rules {
		action := rule.Action
		if rule.OnExitCodes != nil {
			if c := matchExitCodes(rule.OnExitCodes, p); c != nil {
				return &action, fmt.Sprintf("Container %s for pod %s/%s failed with exit code %v matching %v rule at index %d",
					c.Name, p.Namespace, p.Name, c.State.Terminated.ExitCode, action, i)
			}
			continue
		}
		for _, pattern := range rule.OnPodConditions {
			for _, cond := range p.Status.Conditions {
				if cond.Type == pattern.Type && cond.Status == pattern.Status {
					return &action, fmt.Sprintf("Pod %s/%s has condition %v matching %v rule at index %d",
						p.Namespace, p.Name, cond.Type, action, i)
				}
			}
		}
	}
	return nil, ""
}

// matchExitCodes returns the first terminated container (init containers
// first) whose non-zero exit code satisfies the requirement.
func matchExitCodes(req *batchv1.PodFailurePolicyOnExitCodesRequirement, p *corev1.Pod) *corev1.ContainerStatus {
	statuses := append(append([]corev1.ContainerStatus(nil), p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...)
	for i := range statuses {
		c := &statuses[i]
		if req.ContainerName != nil && *req.ContainerName != c.Name {
			continue
		}
		t := c.State.Terminated
		if t == nil || t.ExitCode == 0 {
			continue
		}
		in := slices.Contains(req.Values, t.ExitCode)
		if (req.Operator == batchv1.PodFailurePolicyOnExitCodesOpIn) == in {
			return c
		}
	}
	return nil
}
