package apiserver

import (
	"context"

	certificatesv1 "k8s.io/api/certificates/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// stampRequester records on a new CertificateSigningRequest who asked for
// it, as upstream does: signers and approvers trust these fields, never
// what the client sent.
func stampRequester(ctx context.Context, obj runtime.Object) {
	csr, ok := obj.(*certificatesv1.CertificateSigningRequest)
	if !ok {
		return
	}
	u := UserFrom(ctx)
	csr.Spec.Username, csr.Spec.UID, csr.Spec.Extra = u.Name, "", nil
	csr.Spec.Groups = append([]string(nil), u.Groups...)
}

// isApprovalCondition says whether a condition is an approval decision.
func isApprovalCondition(t certificatesv1.RequestConditionType) bool {
	return t == certificatesv1.CertificateApproved || t == certificatesv1.CertificateDenied
}

// withApprovalFrom gives csr the approval conditions of src, keeping its
// other conditions.
func withApprovalFrom(csr, src *certificatesv1.CertificateSigningRequest) {
	var conds []certificatesv1.CertificateSigningRequestCondition
	for _, c := range csr.Status.Conditions {
		if !isApprovalCondition(c.Type) {
			conds = append(conds, c)
		}
	}
	for _, c := range src.Status.Conditions {
		if isApprovalCondition(c.Type) {
			conds = append(conds, c)
		}
	}
	csr.Status.Conditions = conds
}

// applyApproval is a write of the approval subresource: only the
// Approved and Denied conditions change.
func applyApproval(obj, old runtime.Object) runtime.Object {
	out := old.DeepCopyObject()
	csr, ok1 := out.(*certificatesv1.CertificateSigningRequest)
	in, ok2 := obj.(*certificatesv1.CertificateSigningRequest)
	if !ok1 || !ok2 {
		return out
	}
	withApprovalFrom(csr, in)
	csr.ResourceVersion = in.ResourceVersion
	return out
}

// keepApproval undoes what a status write did to the approval
// conditions: only the approval subresource decides them.
func keepApproval(obj, old runtime.Object) runtime.Object {
	csr, ok1 := obj.(*certificatesv1.CertificateSigningRequest)
	prev, ok2 := old.(*certificatesv1.CertificateSigningRequest)
	if ok1 && ok2 {
		withApprovalFrom(csr, prev)
	}
	return obj
}
