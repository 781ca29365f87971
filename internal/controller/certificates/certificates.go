// Package certificates owns CertificateSigningRequests: the approver
// approves the requests of joining and running nodes for their own client
// and serving certificates, and the signer issues certificates from the
// cluster CA for approved requests of the built-in signers
// (kubernetes.io/kube-apiserver-client, kube-apiserver-client-kubelet and
// kubelet-serving).
package certificates

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	certlisters "k8s.io/client-go/listers/certificates/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"skiff/internal/bootstraptoken"
	"skiff/internal/controller/controllerutil"
	"skiff/internal/pki"
)

// Identities nodes use, as upstream.
const (
	nodeUserPrefix = "system:node:"
	nodesGroup     = "system:nodes"
)

// Controller approves node requests and signs approved ones.
type Controller struct {
	client kubernetes.Interface
	log    *slog.Logger
	ca     *pki.CA
	csrs   certlisters.CertificateSigningRequestLister
	synced cache.InformerSynced
	queue  workqueue.TypedRateLimitingInterface[string]
}

// New returns the controller; ca signs (nil: approve only).
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, ca *pki.CA, log *slog.Logger) *Controller {
	inf := factory.Certificates().V1().CertificateSigningRequests()
	c := &Controller{
		client: client, log: log, ca: ca, csrs: inf.Lister(), synced: inf.Informer().HasSynced,
		queue: controllerutil.NewQueue("certificate"),
	}
	_, _ = inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { controllerutil.Enqueue(c.queue, obj) },
		UpdateFunc: func(_, obj any) { controllerutil.Enqueue(c.queue, obj) },
	})
	return c
}

// Run works until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	if !controllerutil.WaitForSync(ctx, c.synced) {
		return nil
	}
	controllerutil.RunWorkers(ctx, c.queue, 2, c.log, c.sync)
	return nil
}

func condition(csr *certificatesv1.CertificateSigningRequest, t certificatesv1.RequestConditionType) bool {
	for _, cond := range csr.Status.Conditions {
		if cond.Type == t && cond.Status != corev1.ConditionFalse {
			return true
		}
	}
	return false
}

func (c *Controller) sync(ctx context.Context, name string) error {
	csr, err := c.csrs.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if condition(csr, certificatesv1.CertificateDenied) || condition(csr, certificatesv1.CertificateFailed) || len(csr.Status.Certificate) > 0 {
		return nil
	}
	req, err := pki.ParseCSR(csr.Spec.Request)
	if !condition(csr, certificatesv1.CertificateApproved) {
		if err != nil {
			return nil // nothing to approve; a person may deny it
		}
		if msg := autoApproval(csr, req); msg != "" {
			return c.approve(ctx, csr, msg)
		}
		return nil
	}
	if c.ca == nil || !isBuiltInSigner(csr.Spec.SignerName) {
		return nil
	}
	if err != nil {
		return c.fail(ctx, csr, fmt.Sprintf("unable to parse csr %q: %v", csr.Name, err))
	}
	usages, err := checkSigner(csr, req)
	if err != nil {
		return c.fail(ctx, csr, err.Error())
	}
	d := 365 * 24 * time.Hour
	if s := csr.Spec.ExpirationSeconds; s != nil {
		d = time.Duration(*s) * time.Second
	}
	cert, err := c.ca.SignCSR(req, usages, d)
	if err != nil {
		return err
	}
	upd := csr.DeepCopy()
	upd.Status.Certificate = cert
	if _, err := c.client.CertificatesV1().CertificateSigningRequests().UpdateStatus(ctx, upd, metav1.UpdateOptions{}); err != nil && !apierrors.IsConflict(err) {
		return err
	}
	c.log.Info("signed certificate", "csr", csr.Name, "signer", csr.Spec.SignerName, "subject", req.Subject.CommonName)
	return nil
}

func isBuiltInSigner(s string) bool {
	switch s {
	case certificatesv1.KubeAPIServerClientSignerName, certificatesv1.KubeAPIServerClientKubeletSignerName, certificatesv1.KubeletServingSignerName:
		return true
	}
	return false
}

// autoApproval is the approval message for a request this controller
// approves by itself ("" when a person must decide): a node's client
// certificate asked with a bootstrap token or by the node itself, and a
// node's serving certificate asked by the node itself.
func autoApproval(csr *certificatesv1.CertificateSigningRequest, req *x509.CertificateRequest) string {
	if _, err := checkSigner(csr, req); err != nil {
		return ""
	}
	self := csr.Spec.Username == req.Subject.CommonName
	switch csr.Spec.SignerName {
	case certificatesv1.KubeAPIServerClientKubeletSignerName:
		if self || slices.Contains(csr.Spec.Groups, bootstraptoken.Group) {
			return "Auto approving kubelet client certificate after SubjectAccessReview."
		}
	case certificatesv1.KubeletServingSignerName:
		if self && slices.Contains(csr.Spec.Groups, nodesGroup) {
			return "Auto approving kubelet serving certificate of the requesting node."
		}
	}
	return ""
}

// checkSigner applies the built-in signers' rules to a request and returns
// the extended key usages to issue.
func checkSigner(csr *certificatesv1.CertificateSigningRequest, req *x509.CertificateRequest) ([]x509.ExtKeyUsage, error) {
	has := func(u certificatesv1.KeyUsage) bool { return slices.Contains(csr.Spec.Usages, u) }
	allowed := func(ok ...certificatesv1.KeyUsage) error {
		for _, u := range csr.Spec.Usages {
			if !slices.Contains(ok, u) {
				return fmt.Errorf("usage %q is not allowed for signer %s", u, csr.Spec.SignerName)
			}
		}
		return nil
	}
	nodeSubject := func() error {
		if !strings.HasPrefix(req.Subject.CommonName, nodeUserPrefix) || len(req.Subject.CommonName) == len(nodeUserPrefix) {
			return fmt.Errorf("subject common name must begin with %q", nodeUserPrefix)
		}
		if !slices.Equal(req.Subject.Organization, []string{nodesGroup}) {
			return fmt.Errorf("subject organization must be [%q]", nodesGroup)
		}
		return nil
	}
	switch csr.Spec.SignerName {
	case certificatesv1.KubeAPIServerClientSignerName:
		if err := allowed(certificatesv1.UsageDigitalSignature, certificatesv1.UsageKeyEncipherment, certificatesv1.UsageClientAuth); err != nil {
			return nil, err
		}
		return []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, nil
	case certificatesv1.KubeAPIServerClientKubeletSignerName:
		if err := nodeSubject(); err != nil {
			return nil, err
		}
		if len(req.DNSNames)+len(req.IPAddresses)+len(req.EmailAddresses)+len(req.URIs) > 0 {
			return nil, fmt.Errorf("subject alternative names are not allowed for signer %s", csr.Spec.SignerName)
		}
		if err := allowed(certificatesv1.UsageDigitalSignature, certificatesv1.UsageKeyEncipherment, certificatesv1.UsageClientAuth); err != nil {
			return nil, err
		}
		if !has(certificatesv1.UsageClientAuth) {
			return nil, fmt.Errorf("usage %q is required", certificatesv1.UsageClientAuth)
		}
		return []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, nil
	case certificatesv1.KubeletServingSignerName:
		if err := nodeSubject(); err != nil {
			return nil, err
		}
		if len(req.DNSNames)+len(req.IPAddresses) == 0 || len(req.EmailAddresses)+len(req.URIs) > 0 {
			return nil, fmt.Errorf("only DNS and IP subject alternative names, at least one, are allowed for signer %s", csr.Spec.SignerName)
		}
		for _, ip := range req.IPAddresses {
			if ip.IsUnspecified() || ip.Equal(net.IPv4bcast) {
				return nil, fmt.Errorf("IP address %s is not allowed", ip)
			}
		}
		if err := allowed(certificatesv1.UsageDigitalSignature, certificatesv1.UsageKeyEncipherment, certificatesv1.UsageServerAuth); err != nil {
			return nil, err
		}
		if !has(certificatesv1.UsageServerAuth) {
			return nil, fmt.Errorf("usage %q is required", certificatesv1.UsageServerAuth)
		}
		return []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, nil
	}
	return nil, fmt.Errorf("signer %s is not handled here", csr.Spec.SignerName)
}

func (c *Controller) approve(ctx context.Context, csr *certificatesv1.CertificateSigningRequest, msg string) error {
	upd := csr.DeepCopy()
	upd.Status.Conditions = append(upd.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
		Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: "AutoApproved", Message: msg,
		LastUpdateTime: metav1.Now(), LastTransitionTime: metav1.Now(),
	})
	_, err := c.client.CertificatesV1().CertificateSigningRequests().UpdateApproval(ctx, csr.Name, upd, metav1.UpdateOptions{})
	if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
		return nil
	}
	if err == nil {
		c.log.Info("approved certificate signing request", "csr", csr.Name, "requester", csr.Spec.Username)
	}
	return err
}

func (c *Controller) fail(ctx context.Context, csr *certificatesv1.CertificateSigningRequest, msg string) error {
	upd := csr.DeepCopy()
	upd.Status.Conditions = append(upd.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
		Type: certificatesv1.CertificateFailed, Status: corev1.ConditionTrue, Reason: "SignerValidationFailure", Message: msg,
		LastUpdateTime: metav1.Now(), LastTransitionTime: metav1.Now(),
	})
	_, err := c.client.CertificatesV1().CertificateSigningRequests().UpdateStatus(ctx, upd, metav1.UpdateOptions{})
	if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
