package server

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/netdoctor/netdoctor/internal/monitor/api"
)

func node(name string, ready, cordoned bool) *corev1.Node {
	st := corev1.ConditionTrue
	if !ready {
		st = corev1.ConditionFalse
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       corev1.NodeSpec{Unschedulable: cordoned},
		Status:     corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: st}}},
	}
}

func agentPod(name, nodeName string, network api.Network, ip string, ready bool) *corev1.Pod {
	st := corev1.ConditionTrue
	if !ready {
		st = corev1.ConditionFalse
	}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "mon", Labels: map[string]string{
			api.LabelName: api.AgentAppName, api.LabelNetwork: string(network)}},
		Spec: corev1.PodSpec{NodeName: nodeName},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, StartTime: &metav1.Time{Time: time.Unix(100, 0)},
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}},
	}
	if ip != "" {
		p.Status.PodIPs = []corev1.PodIP{{IP: ip}}
	}
	return p
}

func TestKubeRosterSkipReasons(t *testing.T) {
	terminating := agentPod("a-term", "ok", api.NetworkHost, "10.0.0.9", true)
	terminating.DeletionTimestamp = &metav1.Time{Time: time.Unix(200, 0)}
	other := agentPod("not-an-agent", "ok", api.NetworkPod, "10.0.0.8", true)
	other.Labels = map[string]string{"app": "web"}
	pending := agentPod("a-pending", "", api.NetworkPod, "", false)
	objs := []runtime.Object{
		node("ok", true, false), node("down", false, false), node("cordoned", true, true),
		agentPod("a-ok", "ok", api.NetworkPod, "10.0.0.1", true),
		agentPod("a-down", "down", api.NetworkPod, "10.0.1.1", true),
		agentPod("a-cordoned", "cordoned", api.NetworkPod, "10.0.2.1", true),
		agentPod("a-noip", "ok", api.NetworkHost, "", false),
		agentPod("a-unready", "gone", api.NetworkPod, "10.0.3.1", false),
		terminating, other, pending,
	}
	r := KubeRoster{Client: fake.NewClientset(objs...), Namespace: "mon"}
	got, err := r.Expected(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	byPod := map[string]ExpectedAgent{}
	for _, e := range got {
		byPod[e.Pod] = e
	}
	want := map[string]struct {
		name, skip string
		counted    bool
	}{
		"a-ok":       {"ok-private_network", "", true},
		"a-down":     {"down-private_network", "node NotReady", false},
		"a-cordoned": {"cordoned-private_network", "node cordoned", false},
		"a-noip":     {"ok-host_network", "no pod IP", true},
		"a-unready":  {"gone-private_network", "node not found", false},
		"a-term":     {"ok-host_network", "pod terminating", false},
	}
	if len(byPod) != len(want) {
		t.Errorf("got %d agents, want %d: %+v", len(byPod), len(want), got)
	}
	for pod, w := range want {
		e, ok := byPod[pod]
		if !ok {
			t.Errorf("%s missing", pod)
			continue
		}
		if e.Name != w.name || e.Skip != w.skip || e.Counted != w.counted {
			t.Errorf("%s = name %q skip %q counted %v, want %q %q %v", pod, e.Name, e.Skip, e.Counted, w.name, w.skip, w.counted)
		}
	}
	if e := byPod["a-ok"]; !e.Since.Equal(time.Unix(100, 0)) || len(e.IPs) != 1 || e.IPs[0] != "10.0.0.1" {
		t.Errorf("a-ok = %+v", e)
	}
}

func TestPodNotReadySkipped(t *testing.T) {
	objs := []runtime.Object{node("ok", true, false), agentPod("a", "ok", api.NetworkPod, "10.0.0.1", false)}
	got, err := KubeRoster{Client: fake.NewClientset(objs...), Namespace: "mon"}.Expected(context.Background())
	if err != nil || len(got) != 1 || got[0].Skip != "pod not ready" || !got[0].Counted {
		t.Fatalf("got %+v, %v; want one counted agent skipped as pod not ready", got, err)
	}
}
