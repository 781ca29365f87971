package admission

import (
	"context"
	"errors"
	"slices"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

type fakePlugin struct {
	name           string
	log            *[]string
	admitErr, vErr error
}

func (p *fakePlugin) Name() string { return p.name }

type mutating struct{ *fakePlugin }

func (p mutating) Admit(_ context.Context, a *Attributes) error {
	*p.log = append(*p.log, "admit "+p.name)
	a.AddWarning("from " + p.name)
	return p.admitErr
}

type validating struct{ *fakePlugin }

func (p validating) Validate(_ context.Context, a *Attributes) error {
	*p.log = append(*p.log, "validate "+p.name)
	a.AddWarning("from " + p.name)
	return p.vErr
}

type both struct{ *fakePlugin }

func (p both) Admit(ctx context.Context, a *Attributes) error { return mutating(p).Admit(ctx, a) }
func (p both) Validate(ctx context.Context, a *Attributes) error {
	return validating(p).Validate(ctx, a)
}

func attrs() *Attributes {
	return &Attributes{Operation: Create, Resource: schema.GroupVersionResource{Version: "v1", Resource: "pods"}, Namespace: "ns", Name: "p"}
}

func TestChainOrder(t *testing.T) {
	var log []string
	c := NewChain(
		validating{&fakePlugin{name: "ResourceQuota", log: &log}},
		both{&fakePlugin{name: "Custom", log: &log}},
		validating{&fakePlugin{name: "PodSecurity", log: &log}},
		mutating{&fakePlugin{name: "ServiceAccount", log: &log}},
		mutating{&fakePlugin{name: "LimitRanger", log: &log}},
	)
	if got, want := c.Plugins(), []string{"LimitRanger", "ServiceAccount", "PodSecurity", "ResourceQuota", "Custom"}; !slices.Equal(got, want) {
		t.Fatalf("order %q, want %q", got, want)
	}
	a := attrs()
	if err := c.Admit(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	want := []string{"admit LimitRanger", "admit ServiceAccount", "admit Custom", "validate PodSecurity", "validate ResourceQuota", "validate Custom"}
	if !slices.Equal(log, want) {
		t.Errorf("ran %q, want %q", log, want)
	}
	if got := a.Warnings(); len(got) != 5 {
		t.Errorf("warnings %q (duplicates are dropped)", got)
	}
}

func TestChainErrors(t *testing.T) {
	var log []string
	c := NewChain(
		validating{&fakePlugin{name: "PodSecurity", log: &log, vErr: errors.New("no way")}},
		validating{&fakePlugin{name: "ResourceQuota", log: &log}},
	)
	err := c.Validate(context.Background(), attrs())
	if !apierrors.IsForbidden(err) || err.Error() != `pods "p" is forbidden: no way` {
		t.Errorf("got %v", err)
	}
	if !slices.Equal(log, []string{"validate PodSecurity"}) {
		t.Errorf("the chain goes on after a refusal: %q", log)
	}
	// Status errors are kept.
	c = NewChain(mutating{&fakePlugin{name: "X", log: &log, admitErr: apierrors.NewBadRequest("bad")}})
	if err := c.Admit(context.Background(), attrs()); !apierrors.IsBadRequest(err) {
		t.Errorf("got %v", err)
	}
	// A nil chain admits everything.
	var nilChain *Chain
	if nilChain.Admit(context.Background(), attrs()) != nil || nilChain.Validate(context.Background(), attrs()) != nil || nilChain.Plugins() != nil {
		t.Error("nil chain")
	}
}

func TestAnnotations(t *testing.T) {
	a := attrs()
	a.AddAnnotation("k", "1")
	a.AddAnnotation("k", "2")
	if a.Annotations()["k"] != "1" {
		t.Errorf("annotations %v", a.Annotations())
	}
}
