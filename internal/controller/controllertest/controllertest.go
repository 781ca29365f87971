// Package controllertest helps the controllers' unit tests: client-go's
// fake clientset stores objects as given, so a controller that creates
// with generateName, as the API server would name them, needs this.
package controllertest

import (
	"fmt"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// GenerateNames makes client name created objects that only have a
// generateName: the prefix followed by a counter (1, 2, ...).
func GenerateNames(client *fake.Clientset) {
	var mu sync.Mutex
	n := 0
	client.PrependReactor("create", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		c, ok := a.(k8stesting.CreateAction)
		if !ok {
			return false, nil, nil
		}
		m, err := meta.Accessor(c.GetObject())
		if err != nil || m.GetName() != "" || m.GetGenerateName() == "" {
			return false, nil, nil
		}
		mu.Lock()
		n++
		m.SetName(fmt.Sprintf("%s%d", m.GetGenerateName(), n))
		mu.Unlock()
		return false, nil, nil
	})
}
