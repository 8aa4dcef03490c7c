package kubelet

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// applyPodSysctls sets the pod's securityContext.sysctls inside its network
// namespace, as a real kubelet does through the runtime. Only net.* sysctls
// are namespaced per pod here (the others would change the whole machine),
// so any other name fails the pod's setup with the reason.
func applyPodSysctls(netns string, pod *corev1.Pod) error {
	sc := pod.Spec.SecurityContext
	if sc == nil || len(sc.Sysctls) == 0 {
		return nil
	}
	return inNetns(netns, func() error {
		for _, s := range sc.Sysctls {
			if !strings.HasPrefix(s.Name, "net.") {
				return fmt.Errorf("sysctl %s: only net.* sysctls are supported by the sandbox kubelet", s.Name)
			}
			// /proc/sys/net resolves to the network namespace of the thread
			// that opens it: the pod's, inside inNetns.
			p := filepath.Join("/proc/sys", strings.ReplaceAll(s.Name, ".", "/"))
			if err := os.WriteFile(p, []byte(s.Value), 0); err != nil {
				return fmt.Errorf("sysctl %s=%q: %w", s.Name, s.Value, err)
			}
		}
		return nil
	})
}
