package openapi

import (
	"bytes"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	explainv2 "k8s.io/kubectl/pkg/explain/v2"
)

func TestTmpDebug(t *testing.T) {
	dc := discoveryClient(t, testServer(t))
	var out bytes.Buffer
	if err := explainv2.PrintModelDescription([]string{"spec", "strategy"}, &out, dc.OpenAPIV3(), appsv1.SchemeGroupVersion.WithResource("deployments"), false, 0, "plaintext"); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out.String())
	h, _ := newHandler(testResources())
	i := bytes.Index(h.groups["apis/apps/v1"].json, []byte(`"io.k8s.api.apps.v1.DeploymentStrategy"`))
	t.Log(string(h.groups["apis/apps/v1"].json[i:i+900]))
}
