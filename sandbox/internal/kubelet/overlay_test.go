package kubelet

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// TestOverlayCoveringStateDirAndCommandExpansion is the regression test for
// a pod with an emptyDir at a path missing under /var/lib plus the
// service-account token: the overlay that creates the emptyDir's mount point
// covers /var/lib, which also holds the kubelet's state dir (as in the real
// sandbox, /var/lib/netdoctor-sandbox). The token's overlay (on /run) used
// to take its upper dir through that overlay and fail with EINVAL, and the
// emptyDir was bound from the overlay's copy-on-write view. It also checks
// $(VAR) expansion in command and args from a fieldRef variable.
func TestOverlayCoveringStateDirAndCommandExpansion(t *testing.T) {
	needRoot(t)
	saDir := "/var/run/secrets/kubernetes.io/serviceaccount"
	if _, err := os.Stat("/var/run/secrets/kubernetes.io"); err == nil {
		t.Skip("host already has /var/run/secrets/kubernetes.io")
	}
	dataDir := fmt.Sprintf("/var/lib/nd-kubelet-test-%d", os.Getpid())
	if _, err := os.Stat(dataDir); err == nil {
		t.Skipf("host already has %s", dataDir)
	}
	stateDir, err := os.MkdirTemp("/var/lib", "nd-kubelet-state-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(stateDir) })

	cluster := fmt.Sprintf("ko%d", os.Getpid()%100000)
	node := testNode(t, "node-o", "nd-"+cluster+"-n-o", "10.254.4.0/24")
	client := fakeAPIWithTokens()
	cfg := Config{Nodes: []Node{node}, ClusterName: cluster, StateDir: stateDir,
		Images: map[string]string{"example.com/shell:*": "/bin/sh"}}
	_, ctx, _ := runKubelet(t, cfg, client)

	saVolume := corev1.Volume{Name: "kube-api-access", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr.To[int64](3607)}},
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"},
				Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
		}}}}
	nsEnv := corev1.EnvVar{Name: "POD_NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}
	mk := func(name string, c corev1.Container, volumes ...corev1.Volume) {
		c.Name, c.Image = "c", "example.com/shell:1"
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns1", UID: types.UID("uid-" + name)},
			Spec: corev1.PodSpec{NodeName: "node-o", RestartPolicy: corev1.RestartPolicyNever, TerminationGracePeriodSeconds: ptr.To[int64](1),
				Volumes: volumes, Containers: []corev1.Container{c}}}
		if _, err := client.CoreV1().Pods("ns1").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// The container reports what it sees and writes into the emptyDir.
	mk("mounts", corev1.Container{
		Command: []string{"sh", "-c", "cat " + saDir + "/token; echo; cat " + saDir + "/ca.crt; echo; ls -A " + dataDir + "; echo written > " + dataDir + "/out && echo wrote"},
		VolumeMounts: []corev1.VolumeMount{
			{Name: "data", MountPath: dataDir},
			{Name: "kube-api-access", MountPath: saDir, ReadOnly: true},
		}},
		corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		saVolume)
	// "$@" is shell syntax, not a $(VAR) reference: it must reach sh intact.
	mk("expand", corev1.Container{
		Env:     []corev1.EnvVar{nsEnv},
		Command: []string{"sh", "-c", `printf '%s|' "$@"`, "sh"},
		Args:    []string{"$(POD_NAMESPACE)", "$$(POD_NAMESPACE)", "$(UNDEFINED_VAR)", "ns=$(POD_NAMESPACE)"},
	})

	get := func(name string) *corev1.Pod {
		p, err := client.CoreV1().Pods("ns1").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	readLog := func(name string) string {
		log, err := os.ReadFile(filepath.Join(stateDir, "pods", "uid-"+name, "logs", "c", "0.log"))
		if err != nil {
			t.Fatal(err)
		}
		return string(log)
	}
	for _, name := range []string{"mounts", "expand"} {
		waitFor(t, name+" Succeeded", 15*time.Second, func() (bool, error) {
			p := get(name)
			return p.Status.Phase == corev1.PodSucceeded, fmt.Errorf("phase %s message %q %+v", p.Status.Phase, p.Status.Message, p.Status.ContainerStatuses)
		})
	}

	if got, want := readLog("mounts"), "sa-token\nCA-PEM\nwrote\n"; got != want {
		t.Errorf("mounts container saw:\n%q\nwant (token, ca.crt, empty emptyDir, write ok)\n%q", got, want)
	}
	// The write must land in the pod's real emptyDir, not in an overlay's upper layer.
	if data, err := os.ReadFile(filepath.Join(stateDir, "pods", "uid-mounts", "volumes", "data", "out")); err != nil || string(data) != "written\n" {
		t.Errorf("emptyDir on the host: %q, %v", data, err)
	}
	for _, p := range []string{dataDir, "/var/run/secrets/kubernetes.io"} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("mount point %s leaked onto the host filesystem", p)
		}
	}

	if got, want := readLog("expand"), "ns1|$(POD_NAMESPACE)|$(UNDEFINED_VAR)|ns=ns1|"; got != want {
		t.Errorf("expanded args:\n%q\nwant\n%q", got, want)
	}
}
