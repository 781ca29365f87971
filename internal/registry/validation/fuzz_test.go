package validation

import (
	"encoding/json"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Seeds double as regression inputs: with plain `go test` each one runs once.
var podSeeds = []string{
	`{}`,
	`{"metadata":{"name":"p","namespace":"default"},"spec":{"containers":[{"name":"c","image":"i"}]}}`,
	`{"spec":{"containers":[{}],"initContainers":[{"restartPolicy":"Always","lifecycle":{"preStop":{}}}]}}`,
	`{"spec":{"containers":[{"name":"c","ports":[{"containerPort":80,"hostPort":80},{"containerPort":80,"hostPort":80}]}],"hostNetwork":true}}`,
	`{"spec":{"volumes":[{"name":"v","ephemeral":{"volumeClaimTemplate":{"metadata":{"name":"x"},"spec":{}}}},{"name":"g","glusterfs":{}},{"name":"p","projected":{"sources":[{},{"secret":{},"configMap":{}},{"clusterTrustBundle":{}},{"downwardAPI":{"items":[{"path":"a"}]}}]}}]}}`,
	`{"spec":{"ephemeralContainers":[{"name":"d","targetContainerName":"x","volumeMounts":[{"name":"v","subPath":"s"}]}]}}`,
	`{"spec":{"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchFields":[{"key":"metadata.name","operator":"In"}]}]}},"podAffinity":{"preferredDuringSchedulingIgnoredDuringExecution":[{"podAffinityTerm":{"matchLabelKeys":["a"]}}]},"podAntiAffinity":{}}}}`,
	`{"spec":{"containers":[{"name":"c","env":[{"name":"a","valueFrom":{"fieldRef":{"apiVersion":"v1","fieldPath":"metadata.labels['x']"}}},{"name":"b","valueFrom":{"resourceFieldRef":{"resource":"limits.cpu","divisor":"3"}}},{"name":"c","valueFrom":{"fileKeyRef":{}}}]}]}}`,
	`{"spec":{"containers":[{"name":"c","resources":{"requests":{"hugepages-2Mi":"3Mi"},"limits":{"hugepages-bogus":"1"}},"resizePolicy":[{},{}]}],"resources":{"claims":[{"name":"x"}]}}}`,
	`{"spec":{"dnsPolicy":"None","dnsConfig":{"nameservers":["a","b","c","d"],"searches":["."],"options":[{}]},"os":{"name":"windows"},"securityContext":{"sysctls":[{"name":"kernel.shm_rmid_forced"}]},"hostIPC":true,"hostUsers":false,"hostPID":true}}`,
	`{"spec":{"topologySpreadConstraints":[{"maxSkew":1,"topologyKey":"k","whenUnsatisfiable":"DoNotSchedule","minDomains":0,"matchLabelKeys":["a"]},{"maxSkew":1,"topologyKey":"k","whenUnsatisfiable":"DoNotSchedule"}]}}`,
	`{"spec":{"containers":[{"name":"c","livenessProbe":{"exec":{},"httpGet":{"port":"x"},"grpc":{"port":0}},"lifecycle":{"postStart":{"sleep":{"seconds":100}}}}],"terminationGracePeriodSeconds":-5}}`,
	`{"status":{"phase":"Failed","podIPs":[{"ip":"1.1.1.1"},{"ip":"::1"},{"ip":"x"}],"hostIPs":[{"ip":"1.1.1.1"}],"containerStatuses":[{"name":"c","state":{"terminated":{}}}]}}`,
	`{"spec":{"schedulingGates":[{"name":"a"}],"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{}]}}},"tolerations":[{"key":"k","operator":"Exists"}]}}`,
}

func addSeeds(f *testing.F, seeds []string) {
	for _, s := range seeds {
		f.Add([]byte(s), []byte(`{}`))
		f.Add([]byte(s), []byte(seeds[len(seeds)-1]))
	}
}

// exercise runs every entry point with the decoded objects in both orders;
// it only has to return.
func exercise(newObj, oldObj runtime.Object) {
	_ = ValidateCreate(newObj)
	_ = ValidateCreate(oldObj)
	_ = ValidateUpdate(newObj, oldObj)
	_ = ValidateUpdate(oldObj, newObj)
	_ = ValidateUpdate(newObj, newObj)
	_ = ValidateStatusUpdate(newObj, oldObj)
}

func FuzzValidatePod(f *testing.F) {
	valid, err := json.Marshal(validPod())
	if err != nil {
		f.Fatal(err)
	}
	addSeeds(f, append([]string{string(valid)}, podSeeds...))
	f.Fuzz(func(t *testing.T, newData, oldData []byte) {
		newPod, oldPod := &corev1.Pod{}, &corev1.Pod{}
		if json.Unmarshal(newData, newPod) != nil || json.Unmarshal(oldData, oldPod) != nil {
			return
		}
		exercise(newPod, oldPod)
		exercise(newPod, validPod())
		// The same spec embedded in a template goes through other paths.
		d, old := validDeployment(), validDeployment()
		d.Spec.Template.Spec = newPod.Spec
		old.Spec.Template.Spec = oldPod.Spec
		exercise(d, old)
	})
}

var objectSeeds = []string{
	`{}`,
	`{"spec":{"selector":{},"template":{"spec":{"containers":[{}]}},"strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":"x%","maxUnavailable":"101%"}},"updateStrategy":{"type":"RollingUpdate","rollingUpdate":{"maxUnavailable":0,"maxSurge":"0%"}}}}`,
	`{"spec":{"type":"LoadBalancer","clusterIP":"None","clusterIPs":["None","1.2.3.4","::1"],"ipFamilies":["IPv4","IPv4","IPv9"],"ports":[{"port":80,"nodePort":80},{"port":80}],"sessionAffinity":"ClientIP","sessionAffinityConfig":{"clientIP":{}}}}`,
	`{"spec":{"type":"ExternalName","externalName":".","clusterIP":"1.2.3.4"}}`,
	`{"spec":{"schedule":"@every","timeZone":"","jobTemplate":{"spec":{"completionMode":"Indexed","successPolicy":{"rules":[{}]},"podFailurePolicy":{"rules":[{"onExitCodes":{"values":[3,2,2]},"onPodConditions":[{}]}]}}}}}`,
	`{"spec":{"volumeClaimTemplates":[{"spec":{"dataSource":{},"dataSourceRef":{"namespace":"x"}}}],"ordinals":{"start":-1},"persistentVolumeClaimRetentionPolicy":{}}}`,
	`{"spec":{"rules":[{"host":"*","http":{"paths":[{"pathType":"Exact","backend":{"resource":{},"service":{}}}]}}],"tls":[{"hosts":["*.*"]}]}}`,
	`{"spec":{"metrics":[{"type":"Object","object":{"target":{}}},{"type":"External"},{"type":"ContainerResource","containerResource":{"target":{"value":"0"}}}],"behavior":{"scaleUp":{"policies":[{}],"selectPolicy":"Disabled"}}}}`,
	`{"spec":{"ingress":[{"from":[{"ipBlock":{"cidr":"10.0.0.0/8","except":["10.0.0.0/8","x"]}}],"ports":[{"port":"x","endPort":1}]}]}}`,
	`{"spec":{"request":"","usages":["any","any"]},"status":{"conditions":[{"type":"Approved"},{"type":"Denied","status":"True"}],"certificate":"eA=="}}`,
	`{"spec":{"podCIDR":"10.0.0.0/8","podCIDRs":["1.1.1.1/1","1.1.1.1/1","::/0"],"taints":[{},{}]}}`,
	`{"subsets":[{"addresses":[{"ip":"::"}],"ports":[{},{}]}],"endpoints":[{"addresses":[],"hints":{"forZones":[{}]}}],"addressType":"FQDN","ports":[{}]}`,
	`{"spec":{"limits":[{"type":"Container","maxLimitRequestRatio":{"cpu":"0.5"},"min":{"cpu":"0"},"max":{"cpu":"1"}}],"hard":{"pods":"-1"},"scopeSelector":{"matchExpressions":[{}]}}}`,
	`{"rules":[{"nonResourceURLs":["/x"],"resources":["x"]}],"aggregationRule":{"clusterRoleSelectors":[{"matchExpressions":[{}]}]},"roleRef":{},"subjects":[{}]}`,
}

// FuzzValidateObjects decodes the same bytes into every kind: most fields
// will be absent or mismatched, which is exactly the point.
func FuzzValidateObjects(f *testing.F) {
	addSeeds(f, objectSeeds)
	kinds := []func() runtime.Object{
		func() runtime.Object { return &appsv1.Deployment{} },
		func() runtime.Object { return &appsv1.StatefulSet{} },
		func() runtime.Object { return &appsv1.DaemonSet{} },
		func() runtime.Object { return &appsv1.ReplicaSet{} },
		func() runtime.Object { return &appsv1.ControllerRevision{} },
		func() runtime.Object { return &batchv1.Job{} },
		func() runtime.Object { return &batchv1.CronJob{} },
		func() runtime.Object { return &corev1.Service{} },
		func() runtime.Object { return &corev1.Endpoints{} },
		func() runtime.Object { return &corev1.Node{} },
		func() runtime.Object { return &corev1.Namespace{} },
		func() runtime.Object { return &corev1.ConfigMap{} },
		func() runtime.Object { return &corev1.Secret{} },
		func() runtime.Object { return &corev1.PersistentVolume{} },
		func() runtime.Object { return &corev1.PersistentVolumeClaim{} },
		func() runtime.Object { return &corev1.Event{} },
		func() runtime.Object { return &corev1.LimitRange{} },
		func() runtime.Object { return &corev1.ResourceQuota{} },
		func() runtime.Object { return &corev1.ReplicationController{} },
		func() runtime.Object { return &corev1.PodTemplate{} },
		func() runtime.Object { return &networkingv1.Ingress{} },
		func() runtime.Object { return &networkingv1.IngressClass{} },
		func() runtime.Object { return &networkingv1.NetworkPolicy{} },
		func() runtime.Object { return &discoveryv1.EndpointSlice{} },
		func() runtime.Object { return &autoscalingv2.HorizontalPodAutoscaler{} },
		func() runtime.Object { return &rbacv1.ClusterRole{} },
		func() runtime.Object { return &rbacv1.RoleBinding{} },
		func() runtime.Object { return &storagev1.StorageClass{} },
		func() runtime.Object { return &policyv1.PodDisruptionBudget{} },
		func() runtime.Object { return &eventsv1.Event{} },
		func() runtime.Object { return &certificatesv1.CertificateSigningRequest{} },
	}
	f.Fuzz(func(t *testing.T, newData, oldData []byte) {
		for _, mk := range kinds {
			n, o := mk(), mk()
			if json.Unmarshal(newData, n) != nil || json.Unmarshal(oldData, o) != nil {
				continue
			}
			exercise(n, o)
		}
	})
}

func FuzzCronSchedule(f *testing.F) {
	for _, s := range []string{"* * * * *", "*/5 1-3 1,15 JAN-mar sun", "@every 5m", "TZ=UTC @daily", "1-2-3/4/5", "CRON_TZ= ", "?/0 * * * *"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_ = parseCronSchedule(s)
	})
}
