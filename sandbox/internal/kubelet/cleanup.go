package kubelet

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"k8s.io/apimachinery/pkg/types"
)

// cleanupLeftovers removes what a crashed earlier run left behind: container
// processes (from their pid files, checking the start time so a reused pid
// is never hit), pod network namespaces of this cluster, and pod files.
// The pods themselves start again from the API server's view.
func (k *kubelet) cleanupLeftovers() {
	pidDir := filepath.Join(k.cfg.StateDir, "pids")
	entries, _ := os.ReadDir(pidDir)
	for _, e := range entries {
		p := filepath.Join(pidDir, e.Name())
		data, err := os.ReadFile(p)
		if err == nil {
			fields := strings.Fields(string(data))
			if len(fields) == 2 {
				if pid, err := strconv.Atoi(fields[0]); err == nil && pid > 1 {
					if st, err := processStartTime(pid); err == nil && st == fields[1] {
						k.log.Printf("killing leftover container process %d", pid)
						_ = syscall.Kill(-pid, syscall.SIGKILL)
						_ = syscall.Kill(pid, syscall.SIGKILL)
					}
				}
			}
		}
		_ = os.Remove(p)
	}
	prefix := "nd-" + k.cfg.ClusterName + "-p-"
	nsEntries, _ := os.ReadDir(netnsDir)
	for _, e := range nsEntries {
		if strings.HasPrefix(e.Name(), prefix) {
			if err := deleteNetns(e.Name()); err != nil {
				k.log.Printf("removing leftover %v", err)
			}
		}
	}
	for _, pid := range CgroupPIDs(k.cfg.ClusterName) { // only our containers live there
		k.log.Printf("killing leftover container process %d (in the cluster's cgroups)", pid)
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	if err := RemoveClusterCgroups(k.cfg.ClusterName); err != nil {
		k.log.Printf("removing leftover cgroups: %v", err)
	}
	podEntries, _ := os.ReadDir(filepath.Join(k.cfg.StateDir, "pods"))
	for _, e := range podEntries {
		_ = os.RemoveAll(filepath.Join(k.cfg.StateDir, "pods", e.Name()))
	}
}

// markFinished remembers a pod the kubelet deleted so that late watch
// events for it do not start a new worker.
func (k *kubelet) markFinished(uid types.UID) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.finished[uid] = true
}
