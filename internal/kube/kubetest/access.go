// Package kubetest holds helpers for unit tests against client-go's fake
// clientset.
package kubetest

import (
	authzv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// AnswerAccessReviews makes cs answer every SelfSubjectAccessReview (the
// permission preflight's question) with allow's verdict on its attributes.
func AnswerAccessReviews(cs *fake.Clientset, allow func(ra authzv1.ResourceAttributes) bool) {
	cs.PrependReactor("create", "selfsubjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		r := a.(k8stesting.CreateAction).GetObject().(*authzv1.SelfSubjectAccessReview)
		r.Status.Allowed = r.Spec.ResourceAttributes != nil && allow(*r.Spec.ResourceAttributes)
		return true, r, nil
	})
}
