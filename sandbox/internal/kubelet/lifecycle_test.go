package kubelet

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// TestRestartPolicyAndServiceAccountVolume checks crash-loop restarts
// (Always), a finished pod (Never), and the default service-account
// projected volume (token via TokenRequest, ca.crt, namespace) at
// /var/run/secrets/kubernetes.io/serviceaccount, a path missing on the host.
func TestRestartPolicyAndServiceAccountVolume(t *testing.T) {
	needRoot(t)
	if _, err := os.Stat("/var/run/secrets/kubernetes.io"); err == nil {
		t.Skip("host already has /var/run/secrets/kubernetes.io")
	}
	cluster := fmt.Sprintf("kr%d", os.Getpid()%100000)
	node := testNode(t, "node-r", "nd-"+cluster+"-n-r", "10.254.3.0/24")
	client := fakeAPIWithTokens()
	cfg := Config{Nodes: []Node{node}, ClusterName: cluster, StateDir: t.TempDir(),
		Images: map[string]string{"example.com/shell:*": "/bin/sh"}}
	_, ctx, _ := runKubelet(t, cfg, client)

	saDir := "/var/run/secrets/kubernetes.io/serviceaccount"
	saVolume := corev1.Volume{Name: "kube-api-access", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr.To[int64](3607)}},
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"},
				Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{
				{Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}}},
		}}}}
	mk := func(name string, policy corev1.RestartPolicy, script string) {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns1", UID: types.UID("uid-" + name)},
			Spec: corev1.PodSpec{NodeName: "node-r", RestartPolicy: policy, TerminationGracePeriodSeconds: ptr.To[int64](1),
				Volumes: []corev1.Volume{saVolume},
				Containers: []corev1.Container{{Name: "c", Image: "example.com/shell:1", Command: []string{"sh", "-c", script},
					VolumeMounts: []corev1.VolumeMount{{Name: "kube-api-access", MountPath: saDir, ReadOnly: true}}}}}}
		if _, err := client.CoreV1().Pods("ns1").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	mk("crash", corev1.RestartPolicyAlways, "echo crashing; exit 7")
	mk("once", corev1.RestartPolicyNever, "cat "+saDir+"/namespace; echo; cat "+saDir+"/ca.crt; echo; test -f "+saDir+"/token && echo has-token; touch "+saDir+"/x 2>/dev/null || echo read-only")

	get := func(name string) *corev1.Pod {
		p, err := client.CoreV1().Pods("ns1").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	waitFor(t, "once Succeeded", 10*time.Second, func() (bool, error) {
		p := get("once")
		return p.Status.Phase == corev1.PodSucceeded, fmt.Errorf("phase %s %+v", p.Status.Phase, p.Status.ContainerStatuses)
	})
	p := get("once")
	if st := p.Status.ContainerStatuses[0]; st.State.Terminated == nil || st.State.Terminated.ExitCode != 0 || st.State.Terminated.Reason != "Completed" || st.RestartCount != 0 {
		t.Errorf("once: %+v", st)
	}
	log, err := os.ReadFile(filepath.Join(cfg.StateDir, "pods", "uid-once", "logs", "c", "0.log"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(log), "ns1\nCA-PEM\nhas-token\nread-only\n"; got != want {
		t.Errorf("service account volume seen by the container:\n%q\nwant\n%q", got, want)
	}
	if _, err := os.Stat("/var/run/secrets/kubernetes.io"); err == nil {
		t.Errorf("mount point leaked onto the host filesystem")
	}

	waitFor(t, "crash restarted twice", 15*time.Second, func() (bool, error) {
		st := get("crash").Status.ContainerStatuses
		if len(st) == 0 {
			return false, nil
		}
		return st[0].RestartCount >= 2, fmt.Errorf("%+v", st[0])
	})
	p = get("crash")
	st := p.Status.ContainerStatuses[0]
	if p.Status.Phase != corev1.PodRunning || st.LastTerminationState.Terminated == nil || st.LastTerminationState.Terminated.ExitCode != 7 {
		t.Errorf("crash: phase %s status %+v", p.Status.Phase, st)
	}
	waitFor(t, "CrashLoopBackOff", 10*time.Second, func() (bool, error) {
		st := get("crash").Status.ContainerStatuses[0]
		return st.State.Waiting != nil && strings.Contains(st.State.Waiting.Reason, "CrashLoopBackOff"), nil
	})
}
