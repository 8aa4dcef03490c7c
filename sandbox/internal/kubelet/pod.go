package kubelet

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// podWorker owns one pod: its namespace, containers and status. All
// decisions happen in its run goroutine; other goroutines only wake it.
type podWorker struct {
	k       *kubelet
	node    *nodeState
	uid     types.UID
	shortID string
	dir     string // StateDir/pods/<uid>
	// Name and namespace never change for a UID.
	podName, podNamespace string

	mu   sync.Mutex
	pod  *corev1.Pod
	gone bool

	notify chan struct{}

	// Owned by the run goroutine (read by the server under mu-free paths only after setup).
	setupDone  bool
	net        *podNet
	netnsPath  string
	podIPs     []string
	hostIPs    []string
	volumes    map[string]volume
	startTime  metav1.Time
	containers []*container // init containers first
	condTimes  map[corev1.PodConditionType]condTime
	lastStatus *corev1.PodStatus
	setupErr   error
	// stopRefresh ends the service-account token refresher.
	stopRefresh context.CancelFunc
	cgroupWarn  sync.Once // "running without resource limits" is logged once
	// Secondary interfaces (secondary.go) and the last sandbox event sent.
	attachments []*attachment
	lastEvent   string
}

type condTime struct {
	status corev1.ConditionStatus
	at     metav1.Time
}

func newPodWorker(k *kubelet, node *nodeState, pod *corev1.Pod) *podWorker {
	// A hash, not a prefix: names must differ even for UIDs that share a prefix.
	sum := sha256.Sum256([]byte(pod.UID))
	short := hex.EncodeToString(sum[:5])
	w := &podWorker{
		k: k, node: node, uid: pod.UID, shortID: short,
		dir:     filepath.Join(k.cfg.StateDir, "pods", string(pod.UID)),
		pod:     pod,
		podName: pod.Name, podNamespace: pod.Namespace,
		notify:    make(chan struct{}, 1),
		condTimes: map[corev1.PodConditionType]condTime{},
	}
	prev := map[string]corev1.ContainerStatus{}
	for _, s := range append(append([]corev1.ContainerStatus{}, pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...) {
		prev[s.Name] = s
	}
	add := func(spec corev1.Container, isInit bool) {
		c := &container{spec: spec, isInit: isInit}
		c.binary, c.imageKnown = resolveImage(k.cfg.Images, spec.Image)
		// After a kubelet restart the container starts again: count it.
		if s, ok := prev[spec.Name]; ok {
			c.restartCount = s.RestartCount
			if s.ContainerID != "" {
				c.restartCount++
			}
		}
		w.containers = append(w.containers, c)
	}
	for _, c := range pod.Spec.InitContainers {
		add(c, true)
	}
	for _, c := range pod.Spec.Containers {
		add(c, false)
	}
	if pod.Status.StartTime != nil {
		w.startTime = *pod.Status.StartTime
	}
	return w
}

func (w *podWorker) update(pod *corev1.Pod, gone bool) {
	w.mu.Lock()
	w.pod = pod
	w.gone = w.gone || gone
	w.mu.Unlock()
	w.wake()
}

func (w *podWorker) wake() {
	select {
	case w.notify <- struct{}{}:
	default:
	}
}

func (w *podWorker) currentPod() *corev1.Pod {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pod
}

func (w *podWorker) hostname(pod *corev1.Pod) string {
	if pod.Spec.HostNetwork {
		return w.node.Name
	}
	if pod.Spec.Hostname != "" {
		return pod.Spec.Hostname
	}
	return pod.Name
}

func (w *podWorker) podContext(pod *corev1.Pod) podContext {
	return podContext{pod: pod, podIPs: w.podIPs, hostIPs: w.hostIPs, node: w.node}
}

func (w *podWorker) containerID(name string, restart int32) string {
	return fmt.Sprintf("sandbox://%s-%s-%d", w.shortID, name, restart)
}

func (w *podWorker) pidFile(name string) string {
	return filepath.Join(w.k.cfg.StateDir, "pids", w.shortID+"-"+name+".pid")
}

// writePidFile records "pid starttime" so that a crashed kubelet's
// processes can be found (and told apart from a reused pid) later.
func (w *podWorker) writePidFile(name string, pid int) {
	st, _ := processStartTime(pid)
	_ = os.WriteFile(w.pidFile(name), []byte(fmt.Sprintf("%d %s\n", pid, st)), 0o644)
}

func (w *podWorker) removePidFile(name string) { _ = os.Remove(w.pidFile(name)) }

// run is the worker loop: sync on every wake-up until the pod is deleted
// (then it deletes the pod object) or ctx ends (then it stops everything).
func (w *podWorker) run(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			w.terminate(5*time.Second, false)
			return
		case <-w.notify:
		case <-timer.C:
		}
		next, done := w.sync(ctx)
		if done {
			return
		}
		timer.Stop()
		if !next.IsZero() {
			timer.Reset(max(time.Until(next), 10*time.Millisecond))
		}
	}
}

// sync moves the pod one step towards its spec and reports its status. It
// returns when it wants to run again (zero: only when woken) and whether the
// worker is finished.
func (w *podWorker) sync(ctx context.Context) (time.Time, bool) {
	w.mu.Lock()
	pod, gone := w.pod, w.gone
	w.mu.Unlock()

	if gone || pod.DeletionTimestamp != nil {
		grace := 30 * time.Second
		if pod.DeletionGracePeriodSeconds != nil {
			grace = time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second
		} else if pod.Spec.TerminationGracePeriodSeconds != nil {
			grace = time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
		}
		w.terminate(grace, true)
		if !gone {
			err := w.k.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
				GracePeriodSeconds: ptr.To[int64](0),
				Preconditions:      &metav1.Preconditions{UID: &w.uid},
			})
			if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) && ctx.Err() == nil {
				w.k.log.Printf("pod %s/%s: deleting: %v", pod.Namespace, pod.Name, err)
			}
		}
		w.k.markFinished(w.uid)
		return time.Time{}, true
	}

	if w.startTime.IsZero() {
		w.startTime = metav1.Now()
	}
	if w.node.agentless() {
		return w.syncAgentless(ctx, pod), false
	}
	var next time.Time
	soonest := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	if !w.setupDone {
		if err := w.setup(ctx, pod); err != nil {
			w.setupErr = err
			if ctx.Err() == nil {
				w.k.log.Printf("pod %s/%s: setup: %v", pod.Namespace, pod.Name, err)
			}
			soonest(time.Now().Add(2 * time.Second))
		} else {
			w.setupErr = nil
		}
	}
	if w.setupDone {
		soonest(w.syncContainers(ctx, pod))
	}
	if !w.reportStatus(ctx, pod) {
		soonest(time.Now().Add(time.Second))
	}
	return next, false
}

// setup creates the pod's network and files. It runs at most
// cap(setupSem) at a time across all pods.
func (w *podWorker) setup(ctx context.Context, pod *corev1.Pod) error {
	select {
	case w.k.setupSem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-w.k.setupSem }()

	w.hostIPs = append([]string(nil), w.node.IPs...)
	if pod.Spec.HostNetwork {
		w.netnsPath = w.node.netnsPath
		w.podIPs = append([]string(nil), w.node.IPs...)
	} else if w.net == nil {
		var atts []*attachment
		if w.k.cfg.SecondaryRanges != nil {
			var err error
			if atts, err = w.resolveNetworks(ctx, pod); err != nil {
				w.sandboxEvent(ctx, pod, err.Error())
				return err
			}
		}
		ips, err := w.node.ipam.Allocate(string(w.uid))
		if err != nil {
			return err
		}
		pn := &podNet{
			netns:    fmt.Sprintf("nd-%s-p-%s", w.k.cfg.ClusterName, w.shortID),
			hostVeth: "veth" + w.shortID,
			ips:      ips,
			mtu:      w.k.cfg.MTU,
		}
		if err := setupPodNetwork(w.node, pn); err != nil {
			return err
		}
		w.net = pn
		w.netnsPath = netnsPath(pn.netns)
		if err := applyPodSysctls(w.netnsPath, pod); err != nil {
			return err
		}
		w.podIPs = nil
		for _, ip := range ips {
			w.podIPs = append(w.podIPs, ip.String())
		}
		if w.k.cfg.SecondaryRanges != nil {
			w.attachments = atts
			secondary, err := w.attachSecondary(atts)
			if err == nil {
				err = w.writeNetworkStatus(ctx, pod, secondary)
			}
			if err != nil {
				// Like a failed CNI ADD: nothing of the sandbox stays.
				w.sandboxEvent(ctx, pod, sandboxError(pod, fmt.Errorf("error adding container to network: %w", err)).Error())
				_ = teardownPodNetwork(w.node, pn)
				w.releaseSecondary()
				w.net, w.netnsPath, w.podIPs = nil, "", nil
				return err
			}
		}
	}
	if err := os.MkdirAll(filepath.Join(w.dir, "etc"), 0o755); err != nil {
		return err
	}
	etc := filepath.Join(w.dir, "etc")
	if err := os.WriteFile(filepath.Join(etc, "resolv.conf"), []byte(resolvConf(pod, w.k.cfg.ClusterDNS, w.k.cfg.ClusterDomain)), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(etc, "hosts"), []byte(hostsFile(pod, w.hostname(pod), w.podIPs)), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(etc, "hostname"), []byte(w.hostname(pod)+"\n"), 0o644); err != nil {
		return err
	}
	vols, err := materialiseVolumes(ctx, w.k.client, w.podContext(pod), filepath.Join(w.dir, "volumes"),
		filepath.Join(w.k.cfg.StateDir, "nodes", w.node.Name))
	if err != nil {
		// Missing Secrets/ConfigMaps may appear later: keep the network, retry files.
		return err
	}
	w.volumes = vols
	refreshCtx, stop := context.WithCancel(ctx)
	w.stopRefresh = stop
	go refreshTokens(refreshCtx, w.k.client, pod, filepath.Join(w.dir, "volumes"), w.k.log.Printf)
	w.setupDone = true
	return nil
}

// containerMounts lists the bind mounts of one container.
func (w *podWorker) containerMounts(c *corev1.Container) ([]mountSpec, error) {
	etc := filepath.Join(w.dir, "etc")
	mounts := []mountSpec{
		{source: filepath.Join(etc, "resolv.conf"), target: "/etc/resolv.conf", readOnly: true},
		{source: filepath.Join(etc, "hosts"), target: "/etc/hosts", readOnly: true},
		{source: filepath.Join(etc, "hostname"), target: "/etc/hostname", readOnly: true},
	}
	for _, vm := range c.VolumeMounts {
		v, ok := w.volumes[vm.Name]
		if !ok {
			return nil, errConfig{fmt.Errorf("volumeMount %q: no such volume", vm.Name)}
		}
		src := v.path
		if vm.SubPath != "" {
			src = filepath.Join(src, filepath.Clean("/"+vm.SubPath))
			if _, err := os.Stat(src); errors.Is(err, os.ErrNotExist) {
				if err := os.MkdirAll(src, 0o755); err != nil {
					return nil, err
				}
			}
		}
		if !filepath.IsAbs(vm.MountPath) {
			return nil, errConfig{fmt.Errorf("volumeMount %q: mountPath %q is not absolute", vm.Name, vm.MountPath)}
		}
		mounts = append(mounts, mountSpec{source: src, target: filepath.Clean(vm.MountPath), readOnly: vm.ReadOnly || v.readOnly})
	}
	return mounts, nil
}

// syncContainers starts what should run: init containers one by one, then
// all app containers. It returns when it wants to look again.
func (w *podWorker) syncContainers(ctx context.Context, pod *corev1.Pod) time.Time {
	var next time.Time
	soonest := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	policy := pod.Spec.RestartPolicy
	for _, c := range w.containers {
		if c.isInit {
			c.mu.Lock()
			done := c.terminated != nil && c.terminated.ExitCode == 0 && !c.running
			c.mu.Unlock()
			if done {
				continue
			}
		}
		soonest(w.ensureRunning(ctx, c, policy))
		if c.isInit {
			return next // later containers wait for this init container
		}
	}
	return next
}

func (w *podWorker) ensureRunning(ctx context.Context, c *container, policy corev1.RestartPolicy) time.Time {
	if c.isInit && policy == corev1.RestartPolicyAlways {
		policy = corev1.RestartPolicyOnFailure // init containers never restart after success
	}
	c.mu.Lock()
	if next, ok := w.ensureImage(ctx, c); !ok {
		c.mu.Unlock()
		return next
	}
	run, at := c.shouldRun(policy, time.Now())
	if !run {
		if !at.IsZero() && c.terminated != nil {
			c.waitReason = "CrashLoopBackOff"
			c.waitMessage = fmt.Sprintf("back-off %s restarting failed container=%s pod=%s", c.backoff, c.spec.Name, w.podName)
		}
		c.mu.Unlock()
		return at
	}
	c.mu.Unlock()
	if err := w.startContainer(ctx, c); err != nil {
		c.mu.Lock()
		defer c.mu.Unlock()
		var ce errConfig
		if errors.As(err, &ce) {
			c.waitReason = "CreateContainerConfigError"
		} else {
			c.waitReason = "RunContainerError"
		}
		c.waitMessage = err.Error()
		c.backoff = min(max(2*c.backoff, backoffInitial), backoffMax)
		c.nextStart = time.Now().Add(c.backoff)
		w.k.log.Printf("pod %s/%s container %s: %v", w.podNamespace, w.podName, c.spec.Name, err)
		return c.nextStart
	}
	return time.Time{}
}

// terminate stops every container, removes the network and files; with
// deleted false (kubelet shutdown) the IP allocation is kept for the restart.
func (w *podWorker) terminate(grace time.Duration, deleted bool) {
	if w.stopRefresh != nil {
		w.stopRefresh()
	}
	var wg sync.WaitGroup
	for _, c := range w.containers {
		wg.Add(1)
		go func() { defer wg.Done(); c.stop(grace) }()
	}
	wg.Wait()
	if w.net != nil {
		if err := teardownPodNetwork(w.node, w.net); err != nil {
			w.k.log.Printf("pod %s: %v", w.uid, err)
		}
	}
	if deleted {
		if err := w.node.ipam.Release(string(w.uid)); err != nil {
			w.k.log.Printf("pod %s: %v", w.uid, err)
		}
		w.releaseSecondary()
	}
	for _, c := range w.containers {
		w.removePidFile(c.spec.Name)
	}
	w.removeCgroups()
	if err := os.RemoveAll(w.dir); err != nil {
		w.k.log.Printf("pod %s: removing files: %v", w.uid, err)
	}
}
