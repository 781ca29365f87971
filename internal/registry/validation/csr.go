package validation

import (
	"crypto/x509"
	"encoding/pem"
	"errors"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// legacyUnknownSignerName was only valid in v1beta1.
const legacyUnknownSignerName = "kubernetes.io/legacy-unknown"

var keyUsages = []certificatesv1.KeyUsage{
	certificatesv1.UsageAny, certificatesv1.UsageCertSign, certificatesv1.UsageClientAuth, certificatesv1.UsageCodeSigning,
	certificatesv1.UsageContentCommitment, certificatesv1.UsageCRLSign, certificatesv1.UsageDataEncipherment,
	certificatesv1.UsageDecipherOnly, certificatesv1.UsageDigitalSignature, certificatesv1.UsageEmailProtection,
	certificatesv1.UsageEncipherOnly, certificatesv1.UsageIPsecEndSystem, certificatesv1.UsageIPsecTunnel,
	certificatesv1.UsageIPsecUser, certificatesv1.UsageKeyAgreement, certificatesv1.UsageKeyEncipherment,
	certificatesv1.UsageMicrosoftSGC, certificatesv1.UsageNetscapeSGC, certificatesv1.UsageOCSPSigning,
	certificatesv1.UsageSMIME, certificatesv1.UsageServerAuth, certificatesv1.UsageSigning, certificatesv1.UsageTimestamping,
}

func validateCSR(csr *certificatesv1.CertificateSigningRequest) field.ErrorList {
	allErrs := validateMeta(csr, false, nameIsPathSegment)
	allErrs = append(allErrs, validateCSRSpec(&csr.Spec)...)
	return append(allErrs, validateCSRConditions(csr.Status.Conditions)...)
}

func validateCSRSpec(spec *certificatesv1.CertificateSigningRequestSpec) field.ErrorList {
	var allErrs field.ErrorList
	if err := checkCSRRequest(spec.Request); err != nil {
		allErrs = append(allErrs, field.Invalid(specPath.Child("request"), field.OmitValueType{}, err.Error()))
	}
	usagesPath := specPath.Child("usages")
	if len(spec.Usages) == 0 {
		allErrs = append(allErrs, field.Required(usagesPath, ""))
	}
	seen := map[certificatesv1.KeyUsage]bool{}
	for i, u := range spec.Usages {
		allErrs = append(allErrs, enumCheckNotSupported(u, keyUsages, usagesPath.Index(i))...)
		if seen[u] {
			allErrs = append(allErrs, field.Duplicate(usagesPath.Index(i), u))
		}
		seen[u] = true
	}
	if spec.SignerName == legacyUnknownSignerName {
		allErrs = append(allErrs, field.Invalid(specPath.Child("signerName"), spec.SignerName, "the legacy signerName is not allowed via this API version"))
	} else {
		allErrs = append(allErrs, validateSignerName(spec.SignerName, specPath.Child("signerName"))...)
	}
	if spec.ExpirationSeconds != nil && *spec.ExpirationSeconds < 600 {
		allErrs = append(allErrs, field.Invalid(specPath.Child("expirationSeconds"), *spec.ExpirationSeconds, "may not specify a duration less than 600 seconds (10 minutes)"))
	}
	return allErrs
}

// checkCSRRequest: the request must be one PEM "CERTIFICATE REQUEST" block
// whose signature proves possession of the key.
func checkCSRRequest(req []byte) error {
	block, _ := pem.Decode(req)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return errors.New("PEM block type must be CERTIFICATE REQUEST")
	}
	cr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return err
	}
	return cr.CheckSignature()
}

func validateCSRConditions(conds []certificatesv1.CertificateSigningRequestCondition) field.ErrorList {
	var allErrs field.ErrorList
	p := field.NewPath("status", "conditions")
	seen := map[certificatesv1.RequestConditionType]bool{}
	for i, c := range conds {
		cp := p.Index(i)
		if c.Type == "" {
			allErrs = append(allErrs, field.Required(cp.Child("type"), ""))
		}
		switch c.Type {
		case certificatesv1.CertificateApproved, certificatesv1.CertificateDenied, certificatesv1.CertificateFailed:
			// Each verdict is recorded once, and must be affirmative.
			if seen[c.Type] {
				allErrs = append(allErrs, field.Duplicate(cp.Child("type"), c.Type))
			}
			if c.Status != corev1.ConditionTrue {
				allErrs = append(allErrs, field.NotSupported(cp.Child("status"), c.Status, []corev1.ConditionStatus{corev1.ConditionTrue}))
			}
		default:
			allErrs = append(allErrs, enumCheck(c.Status, []corev1.ConditionStatus{corev1.ConditionFalse, corev1.ConditionTrue, corev1.ConditionUnknown}, cp.Child("status"))...)
		}
		seen[c.Type] = true
	}
	if seen[certificatesv1.CertificateApproved] && seen[certificatesv1.CertificateDenied] {
		allErrs = append(allErrs, field.Invalid(p, conds, "Approved and Denied conditions are mutually exclusive"))
	}
	return allErrs
}

func validateCSRUpdate(n, o *certificatesv1.CertificateSigningRequest) field.ErrorList {
	allErrs := validateMetaUpdate(n, o)
	// The request is what was signed or approved; it cannot be swapped.
	if !equality.Semantic.DeepEqual(n.Spec, o.Spec) {
		allErrs = append(allErrs, field.Invalid(specPath, field.OmitValueType{}, fieldImmutableMsg))
	}
	return allErrs
}

func validateCSRStatusUpdate(n, o *certificatesv1.CertificateSigningRequest) field.ErrorList {
	allErrs := validateMetaUpdate(n, o)
	allErrs = append(allErrs, validateCSRConditions(n.Status.Conditions)...)
	// An issued certificate is final.
	if len(o.Status.Certificate) > 0 && !equality.Semantic.DeepEqual(n.Status.Certificate, o.Status.Certificate) {
		allErrs = append(allErrs, field.Forbidden(field.NewPath("status", "certificate"), "updates may not modify existing certificate content"))
	}
	return allErrs
}
