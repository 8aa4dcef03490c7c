package metallb

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

func TestPoolRange(t *testing.T) {
	for in, want := range map[string]string{
		"100.64.32.0/24": "100.64.32.0/24",
		"fd0d:3:3::/112": "fd0d:3:3::1-fd0d:3:3::ffff",
		"fd0d:f:3::/120": "fd0d:f:3::1-fd0d:f:3::ff",
		"fd0d:0:3::/111": "fd0d:0:3::1-fd0d:0:3::1:ffff",
	} {
		if got := poolRange(in); got != want {
			t.Errorf("poolRange(%s) = %s, want %s", in, got, want)
		}
	}
}

// TestObjects edits a manifest shaped like MetalLB's: webhooks dropped, the
// conversion webhook removed, the controller's webhooks disabled, the
// speaker kept off stopped nodes.
func TestObjects(t *testing.T) {
	manifest := `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: bgppeers.metallb.io}
spec:
  conversion: {strategy: Webhook}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: controller, namespace: metallb-system}
spec: {template: {spec: {containers: [{name: controller, args: [--port=7472]}]}}}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: speaker, namespace: metallb-system}
spec: {template: {spec: {containers: [{name: speaker}]}}}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: metallb-webhook-configuration}
`
	objs, err := Objects(strings.NewReader(manifest))
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 3 {
		t.Fatalf("%d objects, want 3 (webhook configuration dropped)", len(objs))
	}
	if _, ok := objs[0].Object["spec"].(map[string]any)["conversion"]; ok {
		t.Error("CRD keeps its conversion webhook")
	}
	args := objs[1].Object["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)["args"].([]any)
	if len(args) != 2 || args[1] != "--webhook-mode=disabled" {
		t.Errorf("controller args %v", args)
	}
	aff := objs[2].Object["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["affinity"]
	if !strings.Contains(fmt.Sprint(aff), StoppedLabel) {
		t.Errorf("speaker affinity %v lacks %s", aff, StoppedLabel)
	}
}

// TestCheck: a directory without the build names the make target.
func TestCheck(t *testing.T) {
	err := Check(t.TempDir())
	if err == nil || !strings.Contains(err.Error(), MakeTarget) {
		t.Fatalf("Check(empty dir) = %v, want an error naming %s", err, MakeTarget)
	}
	dir := t.TempDir()
	for _, b := range []string{SpeakerBinary, ControllerBinary} {
		os.WriteFile(dir+"/"+b, []byte("some other build"), 0o755)
	}
	if err := Check(dir); err == nil || !strings.Contains(err.Error(), "is not MetalLB") {
		t.Fatalf("Check(foreign binaries) = %v", err)
	}
}
