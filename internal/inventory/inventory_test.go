package inventory

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/netdoctor/netdoctor/internal/deploy"
	"github.com/netdoctor/netdoctor/internal/kube"
)

func testNode(name, ip string) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name},
		Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}}}}
}

func testPod(name, node, ip string, ready bool) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "nd", Labels: map[string]string{
			deploy.NameLabel: deploy.AgentName, deploy.NetworkLabel: string(deploy.PodNetwork)}},
		Spec: corev1.PodSpec{NodeName: node},
	}
	if ready {
		p.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIPs: []corev1.PodIP{{IP: ip}},
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
	} else {
		p.Status = corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}}}
	}
	return p
}

func countActions(cs *fake.Clientset, verb, resource string) int {
	n := 0
	for _, a := range cs.Actions() {
		if a.GetVerb() == verb && a.GetResource().Resource == resource {
			n++
		}
	}
	return n
}

// Wait returns as soon as a watched pod turns Ready, long before its
// deadline, having listed pods once (the informer's list) and watched them
// since: no listing every second.
func TestWaitWatchesPods(t *testing.T) {
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: deploy.DaemonSetName(deploy.PodNetwork), Namespace: "nd", Generation: 1,
			Labels: map[string]string{deploy.NameLabel: deploy.AgentName, deploy.NetworkLabel: string(deploy.PodNetwork)}},
		Status: appsv1.DaemonSetStatus{ObservedGeneration: 1, DesiredNumberScheduled: 2, UpdatedNumberScheduled: 2},
	}
	cs := fake.NewClientset(testNode("node-1", "10.0.0.1"), testNode("node-2", "10.0.0.2"), ds,
		testPod("a1", "node-1", "10.1.0.1", true), testPod("a2", "node-2", "10.1.0.2", false))
	watching := make(chan struct{})
	c := &Cluster{Name: "src", Client: &kube.Client{Name: "src", Clientset: cs}, Networks: []deploy.Network{deploy.PodNetwork}}

	go func() {
		// Turn a2 Ready once Wait has its watch (a few polling intervals in).
		for countActions(cs, "watch", "pods") == 0 {
			time.Sleep(10 * time.Millisecond)
		}
		close(watching)
		time.Sleep(2500 * time.Millisecond)
		_, _ = cs.CoreV1().Pods("nd").UpdateStatus(context.Background(), testPod("a2", "node-2", "10.1.0.2", true), metav1.UpdateOptions{})
	}()
	var log bytes.Buffer
	start := time.Now()
	inv, err := Wait(context.Background(), c, "nd", time.Now().Add(30*time.Second), &log)
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	<-watching
	if a := inv.Agents[deploy.PodNetwork]["node-2"]; a == nil || !a.Ready || a.Pod != "a2" {
		t.Fatalf("node-2's agent: %+v", a)
	}
	if took < 2*time.Second || took > 10*time.Second {
		t.Errorf("Wait returned after %s; want soon after the update at ~2.5s", took)
	}
	if n := countActions(cs, "list", "pods"); n != 1 {
		t.Errorf("pods listed %d times in %s, want 1 (then watched)", n, took)
	}
	if n := countActions(cs, "list", "nodes"); n != 1 {
		t.Errorf("nodes listed %d times, want 1", n)
	}
	if n := countActions(cs, "get", "daemonsets"); n != 0 {
		t.Errorf("DaemonSet read %d times through the API, want 0 (from the watch cache)", n)
	}
}

// At the deadline, Wait returns the inventory as it stands, with the
// not-ready agent's reason.
func TestWaitDeadline(t *testing.T) {
	cs := fake.NewClientset(testNode("node-1", "10.0.0.1"), testPod("a1", "node-1", "", false))
	c := &Cluster{Name: "src", Client: &kube.Client{Name: "src", Clientset: cs}, Networks: []deploy.Network{deploy.PodNetwork}}
	start := time.Now()
	inv, err := Wait(context.Background(), c, "nd", time.Now().Add(500*time.Millisecond), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 400*time.Millisecond || took > 5*time.Second {
		t.Errorf("Wait returned after %s, want at its 500ms deadline", took)
	}
	a := inv.Agents[deploy.PodNetwork]["node-1"]
	if a == nil || a.Ready || a.Reason != "ContainerCreating" {
		t.Errorf("node-1's agent: %+v", a)
	}
}

// Without watch permission (the informer never syncs) Wait still returns
// at its deadline, with the inventory read by listing.
func TestWaitWithoutWatch(t *testing.T) {
	cs := fake.NewClientset(testNode("node-1", "10.0.0.1"), testPod("a1", "node-1", "", false))
	cs.PrependWatchReactor("pods", func(k8stesting.Action) (bool, watch.Interface, error) {
		return true, nil, errors.New(`pods is forbidden: User "u" cannot watch resource "pods"`)
	})
	c := &Cluster{Name: "src", Client: &kube.Client{Name: "src", Clientset: cs}, Networks: []deploy.Network{deploy.PodNetwork}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	inv, err := Wait(ctx, c, "nd", time.Now().Add(time.Second), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if a := inv.Agents[deploy.PodNetwork]["node-1"]; a == nil || a.Pod != "a1" || a.Reason != "ContainerCreating" {
		t.Errorf("node-1's agent: %+v", a)
	}
}
