package agent

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"skiff/internal/agent/volume"
)

// configError is a problem with what a container refers to (a missing
// ConfigMap, Secret or key): the container waits with
// CreateContainerConfigError, as upstream's does.
type configError struct{ error }

// containerEnv resolves a container's environment as upstream's kubelet
// does: envFrom first, then env (values may use $(VAR) of the variables
// before them and of the service variables; valueFrom reads ConfigMaps,
// Secrets and the downward API), then the service variables not already
// set. lookup resolves $(VAR) in command, args and subPathExpr.
func (a *Agent) containerEnv(ctx context.Context, pod *corev1.Pod, c *corev1.Container, info volume.PodInfo) ([]*runtimeapi.KeyValue, func(string) (string, bool), error) {
	service := a.serviceEnv(pod)
	defined := map[string]string{}
	var order []string
	set := func(k, v string) {
		if _, ok := defined[k]; !ok {
			order = append(order, k)
		}
		defined[k] = v
	}
	lookup := func(k string) (string, bool) {
		if v, ok := defined[k]; ok {
			return v, true
		}
		v, ok := service[k]
		return v, ok
	}
	var invalid []string
	for _, from := range c.EnvFrom {
		var data map[string]string
		switch {
		case from.ConfigMapRef != nil:
			cm, err := a.client.CoreV1().ConfigMaps(pod.Namespace).Get(ctx, from.ConfigMapRef.Name, metav1.GetOptions{})
			if err != nil {
				if from.ConfigMapRef.Optional != nil && *from.ConfigMapRef.Optional {
					continue
				}
				return nil, nil, configError{fmt.Errorf("configmap %q not found", from.ConfigMapRef.Name)}
			}
			data = cm.Data
		case from.SecretRef != nil:
			s, err := a.client.CoreV1().Secrets(pod.Namespace).Get(ctx, from.SecretRef.Name, metav1.GetOptions{})
			if err != nil {
				if from.SecretRef.Optional != nil && *from.SecretRef.Optional {
					continue
				}
				return nil, nil, configError{fmt.Errorf("secret %q not found", from.SecretRef.Name)}
			}
			data = map[string]string{}
			for k, v := range s.Data {
				data[k] = string(v)
			}
		}
		keys := make([]string, 0, len(data))
		for k := range data {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			name := from.Prefix + k
			if len(validation.IsEnvVarName(name)) > 0 {
				invalid = append(invalid, name)
				continue
			}
			set(name, data[k])
		}
	}
	if len(invalid) > 0 {
		sort.Strings(invalid)
		a.recorder.Eventf(pod, corev1.EventTypeWarning, "InvalidEnvironmentVariableNames", "Keys [%s] from the EnvFrom configMap %s/%s were skipped since they are considered invalid environment variable names.", strings.Join(invalid, ", "), pod.Namespace, envFromName(c))
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			set(e.Name, expand(e.Value, lookup))
			continue
		}
		v, ok, err := a.envSource(ctx, pod, e.ValueFrom, info)
		if err != nil {
			return nil, nil, err
		}
		if ok {
			set(e.Name, v)
		}
	}
	for k, v := range service {
		if _, ok := defined[k]; !ok {
			defined[k] = v
			order = append(order, k)
		}
	}
	out := make([]*runtimeapi.KeyValue, 0, len(order))
	for _, k := range order {
		out = append(out, &runtimeapi.KeyValue{Key: k, Value: []byte(defined[k])})
	}
	return out, lookup, nil
}

func envFromName(c *corev1.Container) string {
	for _, f := range c.EnvFrom {
		if f.ConfigMapRef != nil {
			return f.ConfigMapRef.Name
		}
		if f.SecretRef != nil {
			return f.SecretRef.Name
		}
	}
	return ""
}

// envSource resolves one valueFrom; ok is false for an optional reference
// that is not there (the variable is then left out).
func (a *Agent) envSource(ctx context.Context, pod *corev1.Pod, src *corev1.EnvVarSource, info volume.PodInfo) (string, bool, error) {
	switch {
	case src.FieldRef != nil:
		v, err := volume.FieldValue(pod, src.FieldRef.FieldPath, info)
		return v, err == nil, err
	case src.ResourceFieldRef != nil:
		ref := *src.ResourceFieldRef
		if ref.ContainerName == "" {
			return "", false, fmt.Errorf("resourceFieldRef %s: containerName is required here", ref.Resource)
		}
		v, err := volume.ResourceValue(pod, &ref, info)
		return v, err == nil, err
	case src.ConfigMapKeyRef != nil:
		ref := src.ConfigMapKeyRef
		optional := ref.Optional != nil && *ref.Optional
		cm, err := a.client.CoreV1().ConfigMaps(pod.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			if optional {
				return "", false, nil
			}
			return "", false, configError{fmt.Errorf("configmap %q not found", ref.Name)}
		}
		if v, ok := cm.Data[ref.Key]; ok {
			return v, true, nil
		}
		if v, ok := cm.BinaryData[ref.Key]; ok {
			return string(v), true, nil
		}
		if optional {
			return "", false, nil
		}
		return "", false, configError{fmt.Errorf("couldn't find key %s in ConfigMap %s/%s", ref.Key, pod.Namespace, ref.Name)}
	case src.SecretKeyRef != nil:
		ref := src.SecretKeyRef
		optional := ref.Optional != nil && *ref.Optional
		s, err := a.client.CoreV1().Secrets(pod.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			if optional {
				return "", false, nil
			}
			return "", false, configError{fmt.Errorf("secret %q not found", ref.Name)}
		}
		if v, ok := s.Data[ref.Key]; ok {
			return string(v), true, nil
		}
		if optional {
			return "", false, nil
		}
		return "", false, configError{fmt.Errorf("couldn't find key %s in Secret %s/%s", ref.Key, pod.Namespace, ref.Name)}
	}
	return "", false, fmt.Errorf("valueFrom has no source")
}

// serviceEnv is the Docker-links style variables of the services a pod
// sees: those of its namespace when enableServiceLinks (the default), and
// the API server's own "kubernetes" service always.
func (a *Agent) serviceEnv(pod *corev1.Pod) map[string]string {
	out := map[string]string{}
	if a.services == nil {
		return out
	}
	var svcs []*corev1.Service
	if pod.Spec.EnableServiceLinks == nil || *pod.Spec.EnableServiceLinks {
		svcs, _ = a.services.Services(pod.Namespace).List(labels.Everything())
	}
	if pod.Namespace != metav1.NamespaceDefault || len(svcs) == 0 {
		if k, err := a.services.Services(metav1.NamespaceDefault).Get("kubernetes"); err == nil {
			svcs = append(svcs, k)
		}
	}
	for _, s := range svcs {
		ip := s.Spec.ClusterIP
		if ip == "" || ip == corev1.ClusterIPNone || len(s.Spec.Ports) == 0 {
			continue
		}
		prefix := strings.ToUpper(strings.ReplaceAll(s.Name, "-", "_"))
		out[prefix+"_SERVICE_HOST"] = ip
		out[prefix+"_SERVICE_PORT"] = fmt.Sprint(s.Spec.Ports[0].Port)
		for _, p := range s.Spec.Ports {
			if p.Name != "" {
				out[prefix+"_SERVICE_PORT_"+strings.ToUpper(strings.ReplaceAll(p.Name, "-", "_"))] = fmt.Sprint(p.Port)
			}
		}
		first := s.Spec.Ports[0]
		out[prefix+"_PORT"] = fmt.Sprintf("%s://%s", strings.ToLower(string(first.Protocol)), hostPort(ip, first.Port))
		for _, p := range s.Spec.Ports {
			proto := strings.ToUpper(string(p.Protocol))
			base := fmt.Sprintf("%s_PORT_%d_%s", prefix, p.Port, proto)
			out[base] = fmt.Sprintf("%s://%s", strings.ToLower(proto), hostPort(ip, p.Port))
			out[base+"_PROTO"] = strings.ToLower(proto)
			out[base+"_PORT"] = fmt.Sprint(p.Port)
			out[base+"_ADDR"] = ip
		}
	}
	return out
}

func hostPort(ip string, port int32) string {
	if strings.Contains(ip, ":") {
		return fmt.Sprintf("[%s]:%d", ip, port)
	}
	return fmt.Sprintf("%s:%d", ip, port)
}
