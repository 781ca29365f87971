package validation

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// containerContext is what container checks need to know about the pod.
type containerContext struct {
	vols      map[string]corev1.VolumeSource
	podClaims map[string]bool
	grace     *int64
	spec      *corev1.PodSpec
}

func (cc containerContext) hostUsers() bool {
	return cc.spec.HostUsers == nil || *cc.spec.HostUsers
}

var (
	protocols              = []corev1.Protocol{corev1.ProtocolSCTP, corev1.ProtocolTCP, corev1.ProtocolUDP}
	pullPolicies           = []corev1.PullPolicy{corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever}
	terminationMsgPolicies = []corev1.TerminationMessagePolicy{corev1.TerminationMessageReadFile, corev1.TerminationMessageFallbackToLogsOnError}
)

func validateContainers(containers []corev1.Container, cc containerContext, fldPath *field.Path) field.ErrorList {
	if len(containers) == 0 {
		return field.ErrorList{field.Required(fldPath, "")}
	}
	var allErrs field.ErrorList
	names := map[string]bool{}
	for i := range containers {
		c := &containers[i]
		p := fldPath.Index(i)
		allErrs = append(allErrs, validateContainerCommon(c, cc, p)...)
		if names[c.Name] {
			allErrs = append(allErrs, field.Duplicate(p.Child("name"), c.Name))
		}
		names[c.Name] = true
		if c.Lifecycle != nil {
			allErrs = append(allErrs, validateLifecycle(c.Lifecycle, cc.grace, p.Child("lifecycle"))...)
		}
		allErrs = append(allErrs, validateProbes(c, cc.grace, p)...)
		if c.RestartPolicy != nil {
			allErrs = append(allErrs, field.Forbidden(p.Child("restartPolicy"), "may not be set for non-init containers"))
		}
	}
	// Regular containers run together, so host ports must not collide.
	allErrs = append(allErrs, checkHostPortConflicts(containers, fldPath)...)
	return allErrs
}

func validateInitContainers(inits, regular []corev1.Container, cc containerContext, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	names := map[string]bool{}
	for _, c := range regular {
		names[c.Name] = true
	}
	for i := range inits {
		c := &inits[i]
		p := fldPath.Index(i)
		allErrs = append(allErrs, validateContainerCommon(c, cc, p)...)
		sidecar := false
		if c.RestartPolicy != nil {
			// Only "Always" is meaningful: it turns the init container into a sidecar.
			if *c.RestartPolicy != corev1.ContainerRestartPolicyAlways {
				allErrs = append(allErrs, field.NotSupported(p.Child("restartPolicy"), *c.RestartPolicy, []corev1.ContainerRestartPolicy{corev1.ContainerRestartPolicyAlways}))
			}
			sidecar = *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
		}
		if names[c.Name] {
			allErrs = append(allErrs, field.Duplicate(p.Child("name"), c.Name))
		} else if c.Name != "" {
			names[c.Name] = true
		}
		// Init containers run one at a time: only conflicts within one count.
		allErrs = append(allErrs, checkHostPortConflicts([]corev1.Container{*c}, fldPath)...)
		if sidecar {
			if c.Lifecycle != nil {
				allErrs = append(allErrs, validateLifecycle(c.Lifecycle, cc.grace, p.Child("lifecycle"))...)
			}
			allErrs = append(allErrs, validateProbes(c, cc.grace, p)...)
			continue
		}
		const msg = "may not be set for init containers without restartPolicy=Always"
		if c.Lifecycle != nil {
			allErrs = append(allErrs, field.Forbidden(p.Child("lifecycle"), msg))
		}
		if c.LivenessProbe != nil {
			allErrs = append(allErrs, field.Forbidden(p.Child("livenessProbe"), msg))
		}
		if c.ReadinessProbe != nil {
			allErrs = append(allErrs, field.Forbidden(p.Child("readinessProbe"), msg))
		}
		if c.StartupProbe != nil {
			allErrs = append(allErrs, field.Forbidden(p.Child("startupProbe"), msg))
		}
	}
	return allErrs
}

func validateEphemeralContainers(ephemeral []corev1.EphemeralContainer, regular, inits []corev1.Container, cc containerContext, fldPath *field.Path) field.ErrorList {
	if len(ephemeral) == 0 {
		return nil
	}
	var allErrs field.ErrorList
	others, all := map[string]bool{}, map[string]bool{}
	for _, c := range regular {
		others[c.Name], all[c.Name] = true, true
	}
	for _, c := range inits {
		others[c.Name], all[c.Name] = true, true
	}
	const msg = "cannot be set for an Ephemeral Container"
	for i := range ephemeral {
		ec := &ephemeral[i]
		p := fldPath.Index(i)
		c := (*corev1.Container)(&ec.EphemeralContainerCommon)
		allErrs = append(allErrs, validateContainerCommon(c, cc, p)...)
		if len(c.Image) != len(strings.TrimSpace(c.Image)) {
			allErrs = append(allErrs, field.Invalid(p.Child("image"), c.Image, "must not have leading or trailing whitespace"))
		}
		if all[ec.Name] {
			allErrs = append(allErrs, field.Duplicate(p.Child("name"), ec.Name))
		} else {
			all[ec.Name] = true
		}
		if ec.TargetContainerName != "" && !others[ec.TargetContainerName] {
			allErrs = append(allErrs, field.NotFound(p.Child("targetContainerName"), ec.TargetContainerName))
		}
		// Debug containers must not become part of the workload.
		if len(ec.Ports) > 0 {
			allErrs = append(allErrs, field.Forbidden(p.Child("ports"), msg))
		}
		if len(ec.Resources.Limits)+len(ec.Resources.Requests)+len(ec.Resources.Claims) > 0 {
			allErrs = append(allErrs, field.Forbidden(p.Child("resources"), msg))
		}
		if ec.LivenessProbe != nil {
			allErrs = append(allErrs, field.Forbidden(p.Child("livenessProbe"), msg))
		}
		if ec.ReadinessProbe != nil {
			allErrs = append(allErrs, field.Forbidden(p.Child("readinessProbe"), msg))
		}
		if ec.StartupProbe != nil {
			allErrs = append(allErrs, field.Forbidden(p.Child("startupProbe"), msg))
		}
		if ec.Lifecycle != nil {
			allErrs = append(allErrs, field.Forbidden(p.Child("lifecycle"), msg))
		}
		if len(ec.ResizePolicy) > 0 {
			allErrs = append(allErrs, field.Forbidden(p.Child("resizePolicy"), msg))
		}
		if ec.RestartPolicy != nil {
			allErrs = append(allErrs, field.Forbidden(p.Child("restartPolicy"), msg))
		}
		for j, vm := range ec.VolumeMounts {
			if vm.SubPath != "" {
				allErrs = append(allErrs, field.Forbidden(p.Child("volumeMounts").Index(j).Child("subPath"), msg))
			}
			if vm.SubPathExpr != "" {
				allErrs = append(allErrs, field.Forbidden(p.Child("volumeMounts").Index(j).Child("subPathExpr"), msg))
			}
		}
	}
	return allErrs
}

// validateContainerCommon holds the checks every kind of container gets.
func validateContainerCommon(c *corev1.Container, cc containerContext, p *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if c.Name == "" {
		allErrs = append(allErrs, field.Required(p.Child("name"), ""))
	} else {
		allErrs = append(allErrs, validateDNS1123Label(c.Name, p.Child("name"))...)
	}
	if c.Image == "" {
		allErrs = append(allErrs, field.Required(p.Child("image"), ""))
	}
	allErrs = append(allErrs, enumCheck(c.TerminationMessagePolicy, terminationMsgPolicies, p.Child("terminationMessagePolicy"))...)
	allErrs = append(allErrs, validateContainerPorts(c.Ports, p.Child("ports"))...)
	allErrs = append(allErrs, validateEnv(c.Env, p.Child("env"))...)
	allErrs = append(allErrs, validateEnvFrom(c.EnvFrom, p.Child("envFrom"))...)
	allErrs = append(allErrs, validateVolumeMounts(c, cc.vols, p.Child("volumeMounts"))...)
	allErrs = append(allErrs, validateVolumeDevices(c, cc.vols, p.Child("volumeDevices"))...)
	allErrs = append(allErrs, enumCheck(c.ImagePullPolicy, pullPolicies, p.Child("imagePullPolicy"))...)
	allErrs = append(allErrs, validateResourceRequirements(&c.Resources, validateContainerResourceName, cc.podClaims, p.Child("resources"))...)
	allErrs = append(allErrs, validateResizePolicy(c.ResizePolicy, cc.spec.RestartPolicy, p.Child("resizePolicy"))...)
	allErrs = append(allErrs, validateContainerSecurityContext(c.SecurityContext, cc.hostUsers(), p.Child("securityContext"))...)
	return allErrs
}

func validateContainerPorts(ports []corev1.ContainerPort, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	names := map[string]bool{}
	for i, port := range ports {
		p := fldPath.Index(i)
		if port.Name != "" {
			if msgs := validation.IsValidPortName(port.Name); len(msgs) != 0 {
				allErrs = append(allErrs, invalidFor(p.Child("name"), port.Name, msgs)...)
			} else if names[port.Name] {
				allErrs = append(allErrs, field.Duplicate(p.Child("name"), port.Name))
			} else {
				names[port.Name] = true
			}
		}
		if port.ContainerPort == 0 {
			allErrs = append(allErrs, field.Required(p.Child("containerPort"), ""))
		} else {
			allErrs = append(allErrs, validatePortNum(port.ContainerPort, p.Child("containerPort"))...)
		}
		if port.HostPort != 0 {
			allErrs = append(allErrs, validatePortNum(port.HostPort, p.Child("hostPort"))...)
		}
		if port.HostIP != "" {
			allErrs = append(allErrs, validateIP(port.HostIP, p.Child("hostIP"))...)
		}
		allErrs = append(allErrs, enumCheck(port.Protocol, protocols, p.Child("protocol"))...)
	}
	return allErrs
}

func checkHostPortConflicts(containers []corev1.Container, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	seen := map[string]bool{}
	for ci, c := range containers {
		for pi, port := range c.Ports {
			if port.HostPort == 0 {
				continue
			}
			key := fmt.Sprintf("%s/%s/%d", port.Protocol, port.HostIP, port.HostPort)
			if seen[key] {
				allErrs = append(allErrs, field.Duplicate(fldPath.Index(ci).Child("ports").Index(pi).Child("hostPort"), key))
			}
			seen[key] = true
		}
	}
	return allErrs
}

// Environment

var envFieldPaths = []string{
	"metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName", "spec.serviceAccountName",
	"status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs",
}

var volumeFieldPaths = []string{"metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace", "metadata.uid"}

var resourceFieldRefs = []string{
	"limits.cpu", "limits.ephemeral-storage", "limits.memory",
	"requests.cpu", "requests.ephemeral-storage", "requests.memory",
}

func validateEnv(vars []corev1.EnvVar, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	for i, ev := range vars {
		p := fldPath.Index(i)
		if ev.Name == "" {
			allErrs = append(allErrs, field.Required(p.Child("name"), ""))
		} else {
			// Any printable ASCII but '=' is a usable variable name.
			allErrs = append(allErrs, invalidFor(p.Child("name"), ev.Name, validation.IsRelaxedEnvVarName(ev.Name))...)
		}
		allErrs = append(allErrs, validateEnvVarValueFrom(ev, p.Child("valueFrom"))...)
	}
	return allErrs
}

func validateEnvVarValueFrom(ev corev1.EnvVar, fldPath *field.Path) field.ErrorList {
	if ev.ValueFrom == nil {
		return nil
	}
	var allErrs field.ErrorList
	vf := ev.ValueFrom
	n := 0
	if vf.FieldRef != nil {
		n++
		allErrs = append(allErrs, validateObjectFieldSelector(vf.FieldRef, envFieldPaths, fldPath.Child("fieldRef"))...)
	}
	if vf.ResourceFieldRef != nil {
		n++
		allErrs = append(allErrs, validateResourceFieldSelector(vf.ResourceFieldRef, false, fldPath.Child("resourceFieldRef"))...)
	}
	if vf.ConfigMapKeyRef != nil {
		n++
		allErrs = append(allErrs, validateKeySelector(vf.ConfigMapKeyRef.Name, vf.ConfigMapKeyRef.Key, fldPath.Child("configMapKeyRef"))...)
	}
	if vf.SecretKeyRef != nil {
		n++
		allErrs = append(allErrs, validateKeySelector(vf.SecretKeyRef.Name, vf.SecretKeyRef.Key, fldPath.Child("secretKeyRef"))...)
	}
	if vf.FileKeyRef != nil {
		n++
		p := fldPath.Child("fileKeyRef")
		if vf.FileKeyRef.VolumeName == "" {
			allErrs = append(allErrs, field.Required(p.Child("volumeName"), ""))
		}
		if vf.FileKeyRef.Path == "" {
			allErrs = append(allErrs, field.Required(p.Child("path"), ""))
		} else {
			allErrs = append(allErrs, validateLocalNonReservedPath(vf.FileKeyRef.Path, p.Child("path"))...)
		}
		if vf.FileKeyRef.Key == "" {
			allErrs = append(allErrs, field.Required(p.Child("key"), ""))
		}
	}
	switch {
	case n == 0:
		allErrs = append(allErrs, field.Invalid(fldPath, "", "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"))
	case ev.Value != "":
		allErrs = append(allErrs, field.Invalid(fldPath, "", "may not be specified when `value` is not empty"))
	case n > 1:
		allErrs = append(allErrs, field.Invalid(fldPath, "", "may not have more than one field specified at a time"))
	}
	return allErrs
}

// validateObjectFieldSelector checks a downward API field reference such as
// metadata.name or metadata.labels['app'].
func validateObjectFieldSelector(fs *corev1.ObjectFieldSelector, allowed []string, fldPath *field.Path) field.ErrorList {
	if fs.APIVersion == "" {
		return field.ErrorList{field.Required(fldPath.Child("apiVersion"), "")}
	}
	if fs.FieldPath == "" {
		return field.ErrorList{field.Required(fldPath.Child("fieldPath"), "")}
	}
	if fs.APIVersion != "v1" {
		return field.ErrorList{field.Invalid(fldPath.Child("fieldPath"), fs.FieldPath, fmt.Sprintf("error converting fieldPath: unsupported version: %s", fs.APIVersion))}
	}
	if path, sub, ok := splitSubscript(fs.FieldPath); ok {
		switch path {
		case "metadata.annotations":
			return validateQualifiedName(strings.ToLower(sub), fldPath)
		case "metadata.labels":
			return validateQualifiedName(sub, fldPath)
		default:
			return field.ErrorList{field.Invalid(fldPath, path, "does not support subscript")}
		}
	}
	for _, a := range allowed {
		if fs.FieldPath == a {
			return nil
		}
	}
	return field.ErrorList{field.NotSupported(fldPath.Child("fieldPath"), fs.FieldPath, allowed)}
}

// splitSubscript splits "metadata.labels['key']" into path and key.
func splitSubscript(s string) (string, string, bool) {
	if !strings.HasSuffix(s, "']") {
		return "", "", false
	}
	open := strings.Index(s, "['")
	if open < 0 {
		return "", "", false
	}
	return s[:open], s[open+2 : len(s)-2], true
}

func validateResourceFieldSelector(fs *corev1.ResourceFieldSelector, inVolume bool, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	switch {
	case inVolume && fs.ContainerName == "":
		allErrs = append(allErrs, field.Required(fldPath.Child("containerName"), ""))
	case fs.Resource == "":
		allErrs = append(allErrs, field.Required(fldPath.Child("resource"), ""))
	default:
		known := strings.HasPrefix(fs.Resource, "requests."+hugePagesPrefix) || strings.HasPrefix(fs.Resource, hugePagesLimitsPrefix)
		for _, r := range resourceFieldRefs {
			known = known || fs.Resource == r
		}
		if !known {
			allErrs = append(allErrs, field.NotSupported(fldPath.Child("resource"), fs.Resource, resourceFieldRefs))
		}
	}
	allErrs = append(allErrs, validateResourceDivisor(fs.Resource, fs.Divisor, fldPath)...)
	return allErrs
}

var (
	cpuDivisors    = map[string]bool{"1m": true, "1": true}
	memoryDivisors = map[string]bool{"1": true, "1k": true, "1M": true, "1G": true, "1T": true, "1P": true, "1E": true,
		"1Ki": true, "1Mi": true, "1Gi": true, "1Ti": true, "1Pi": true, "1Ei": true}
)

func validateResourceDivisor(name string, divisor resource.Quantity, fldPath *field.Path) field.ErrorList {
	if divisor.IsZero() {
		return nil
	}
	d := divisor.String()
	switch {
	case strings.HasSuffix(name, ".cpu"):
		if !cpuDivisors[d] {
			return field.ErrorList{field.Invalid(fldPath.Child("divisor"), name, "only divisor's values 1m and 1 are supported with the cpu resource")}
		}
	case strings.HasSuffix(name, ".memory"), strings.HasSuffix(name, ".ephemeral-storage"), strings.Contains(name, hugePagesPrefix):
		if !memoryDivisors[d] {
			return field.ErrorList{field.Invalid(fldPath.Child("divisor"), name, "only divisor's values 1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei are supported with the memory resource")}
		}
	}
	return nil
}

func validateKeySelector(name, key string, fldPath *field.Path) field.ErrorList {
	allErrs := validateName(nameIsDNSSubdomain, name, fldPath.Child("name"))
	if key == "" {
		allErrs = append(allErrs, field.Required(fldPath.Child("key"), ""))
	} else {
		allErrs = append(allErrs, invalidFor(fldPath.Child("key"), key, validation.IsConfigMapKey(key))...)
	}
	return allErrs
}

func validateEnvFrom(sources []corev1.EnvFromSource, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	for i, ef := range sources {
		p := fldPath.Index(i)
		if ef.Prefix != "" {
			allErrs = append(allErrs, invalidFor(p.Child("prefix"), ef.Prefix, validation.IsRelaxedEnvVarName(ef.Prefix))...)
		}
		n := 0
		if ef.ConfigMapRef != nil {
			n++
			allErrs = append(allErrs, validateEnvSourceName(ef.ConfigMapRef.Name, p.Child("configMapRef"))...)
		}
		if ef.SecretRef != nil {
			n++
			allErrs = append(allErrs, validateEnvSourceName(ef.SecretRef.Name, p.Child("secretRef"))...)
		}
		if n == 0 {
			allErrs = append(allErrs, field.Invalid(fldPath, "", "must specify one of: `configMapRef` or `secretRef`"))
		} else if n > 1 {
			allErrs = append(allErrs, field.Invalid(fldPath, "", "may not have more than one field specified at a time"))
		}
	}
	return allErrs
}

func validateEnvSourceName(name string, fldPath *field.Path) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(fldPath.Child("name"), "")}
	}
	return invalidFor(fldPath.Child("name"), name, nameIsDNSSubdomain(name, true))
}

// Probes and lifecycle hooks

type handler struct {
	exec      *corev1.ExecAction
	httpGet   *corev1.HTTPGetAction
	tcpSocket *corev1.TCPSocketAction
	grpc      *corev1.GRPCAction
	sleep     *corev1.SleepAction
}

func validateProbes(c *corev1.Container, grace *int64, p *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if c.LivenessProbe != nil {
		lp := p.Child("livenessProbe")
		allErrs = append(allErrs, validateProbe(c.LivenessProbe, grace, lp)...)
		if c.LivenessProbe.SuccessThreshold != 1 {
			allErrs = append(allErrs, field.Invalid(lp.Child("successThreshold"), c.LivenessProbe.SuccessThreshold, "must be 1"))
		}
	}
	if c.ReadinessProbe != nil {
		rp := p.Child("readinessProbe")
		allErrs = append(allErrs, validateProbe(c.ReadinessProbe, grace, rp)...)
		if c.ReadinessProbe.TerminationGracePeriodSeconds != nil {
			allErrs = append(allErrs, field.Invalid(rp.Child("terminationGracePeriodSeconds"), *c.ReadinessProbe.TerminationGracePeriodSeconds, "must not be set for readinessProbes"))
		}
	}
	if c.StartupProbe != nil {
		sp := p.Child("startupProbe")
		allErrs = append(allErrs, validateProbe(c.StartupProbe, grace, sp)...)
		if c.StartupProbe.SuccessThreshold != 1 {
			allErrs = append(allErrs, field.Invalid(sp.Child("successThreshold"), c.StartupProbe.SuccessThreshold, "must be 1"))
		}
	}
	return allErrs
}

func validateProbe(probe *corev1.Probe, grace *int64, p *field.Path) field.ErrorList {
	h := handler{exec: probe.Exec, httpGet: probe.HTTPGet, tcpSocket: probe.TCPSocket, grpc: probe.GRPC}
	allErrs := validateHandler(h, grace, p)
	allErrs = append(allErrs, validateNonnegative(int64(probe.InitialDelaySeconds), p.Child("initialDelaySeconds"))...)
	allErrs = append(allErrs, validateNonnegative(int64(probe.TimeoutSeconds), p.Child("timeoutSeconds"))...)
	allErrs = append(allErrs, validateNonnegative(int64(probe.PeriodSeconds), p.Child("periodSeconds"))...)
	allErrs = append(allErrs, validateNonnegative(int64(probe.SuccessThreshold), p.Child("successThreshold"))...)
	allErrs = append(allErrs, validateNonnegative(int64(probe.FailureThreshold), p.Child("failureThreshold"))...)
	if probe.TerminationGracePeriodSeconds != nil && *probe.TerminationGracePeriodSeconds <= 0 {
		allErrs = append(allErrs, field.Invalid(p.Child("terminationGracePeriodSeconds"), *probe.TerminationGracePeriodSeconds, "must be greater than 0"))
	}
	return allErrs
}

func validateLifecycle(l *corev1.Lifecycle, grace *int64, p *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	hooks := []struct {
		name string
		h    *corev1.LifecycleHandler
	}{{"postStart", l.PostStart}, {"preStop", l.PreStop}}
	for _, hook := range hooks {
		if hook.h == nil {
			continue
		}
		h := handler{exec: hook.h.Exec, httpGet: hook.h.HTTPGet, tcpSocket: hook.h.TCPSocket, sleep: hook.h.Sleep}
		allErrs = append(allErrs, validateHandler(h, grace, p.Child(hook.name))...)
	}
	return allErrs
}

// validateHandler: exactly one action per probe or hook.
func validateHandler(h handler, grace *int64, p *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	n := 0
	add := func(set bool, name string, check func() field.ErrorList) {
		if !set {
			return
		}
		if n > 0 {
			allErrs = append(allErrs, field.Forbidden(p.Child(name), "may not specify more than 1 handler type"))
			return
		}
		n++
		allErrs = append(allErrs, check()...)
	}
	add(h.exec != nil, "exec", func() field.ErrorList {
		if len(h.exec.Command) == 0 {
			return field.ErrorList{field.Required(p.Child("exec", "command"), "")}
		}
		return nil
	})
	add(h.httpGet != nil, "httpGet", func() field.ErrorList { return validateHTTPGetAction(h.httpGet, p.Child("httpGet")) })
	add(h.tcpSocket != nil, "tcpSocket", func() field.ErrorList {
		return validatePortNumOrName(h.tcpSocket.Port, p.Child("tcpSocket", "port"))
	})
	add(h.grpc != nil, "grpc", func() field.ErrorList {
		return validatePortNumOrName(intstr.FromInt32(h.grpc.Port), p.Child("grpc", "port"))
	})
	add(h.sleep != nil, "sleep", func() field.ErrorList {
		// A sleep longer than the grace period would be cut short anyway.
		if grace != nil && (h.sleep.Seconds < 0 || h.sleep.Seconds > *grace) {
			return field.ErrorList{field.Invalid(p.Child("sleep"), h.sleep.Seconds, fmt.Sprintf("must be non-negative and less than terminationGracePeriodSeconds (%d)", *grace))}
		}
		return nil
	})
	if n == 0 {
		allErrs = append(allErrs, field.Required(p, "must specify a handler type"))
	}
	return allErrs
}

func validateHTTPGetAction(h *corev1.HTTPGetAction, p *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if h.Path == "" {
		allErrs = append(allErrs, field.Required(p.Child("path"), ""))
	}
	allErrs = append(allErrs, validatePortNumOrName(h.Port, p.Child("port"))...)
	if h.Scheme != corev1.URISchemeHTTP && h.Scheme != corev1.URISchemeHTTPS {
		allErrs = append(allErrs, field.NotSupported(p.Child("scheme"), h.Scheme, []corev1.URIScheme{corev1.URISchemeHTTP, corev1.URISchemeHTTPS}))
	}
	for _, header := range h.HTTPHeaders {
		allErrs = append(allErrs, invalidFor(p.Child("httpHeaders"), header.Name, validation.IsHTTPHeaderName(header.Name))...)
	}
	return allErrs
}

func validateResizePolicy(policies []corev1.ContainerResizePolicy, podRestart corev1.RestartPolicy, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	seen := map[corev1.ResourceName]bool{}
	for i, rp := range policies {
		if seen[rp.ResourceName] {
			allErrs = append(allErrs, field.Duplicate(fldPath.Index(i), rp.ResourceName))
		}
		seen[rp.ResourceName] = true
		allErrs = append(allErrs, enumCheck(rp.ResourceName, []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory}, fldPath)...)
		allErrs = append(allErrs, enumCheck(rp.RestartPolicy, []corev1.ResourceResizeRestartPolicy{corev1.NotRequired, corev1.RestartContainer}, fldPath)...)
		if podRestart == corev1.RestartPolicyNever && rp.RestartPolicy != corev1.NotRequired {
			allErrs = append(allErrs, field.Invalid(fldPath, rp.RestartPolicy, "must be 'NotRequired' when `restartPolicy` is 'Never'"))
		}
	}
	return allErrs
}
