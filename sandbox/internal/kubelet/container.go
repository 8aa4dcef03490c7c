package kubelet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const (
	backoffInitial = 2 * time.Second // the real kubelet starts at 10 s; the sandbox wants quick feedback
	backoffMax     = time.Minute
	// pullBackoffAfter is how long an unknown image shows ErrImagePull
	// before it turns into ImagePullBackOff.
	pullBackoffAfter = time.Second
)

// container is one container of a pod and its current process.
type container struct {
	spec   corev1.Container
	isInit bool

	mu           sync.Mutex
	binary       string // "" while the image is unknown
	imageKnown   bool
	img          imageState // pulled image (images.go)
	pullFailedAt time.Time
	waitReason   string
	waitMessage  string
	running      bool
	pid          int
	startedAt    metav1.Time
	env          []string
	argv         []string
	exited       chan struct{} // closed when the current process ends
	terminated   *corev1.ContainerStateTerminated
	lastTerm     *corev1.ContainerStateTerminated
	everStarted  bool
	restartCount int32
	ready        bool
	started      bool // startup probe passed (or none)
	backoff      time.Duration
	nextStart    time.Time
	stopProbes   context.CancelFunc
	stopping     bool // we killed it: do not restart
}

func (c *container) logDir(podDir string) string {
	return filepath.Join(podDir, "logs", c.spec.Name)
}

// logPath is the log file of restart number n.
func (c *container) logPath(podDir string, n int32) string {
	return filepath.Join(c.logDir(podDir), strconv.Itoa(int(n))+".log")
}

// shouldRun says whether a non-running container must (re)start now, and if
// not, when to look again (zero: never).
func (c *container) shouldRun(policy corev1.RestartPolicy, now time.Time) (bool, time.Time) {
	if c.running || c.stopping {
		return false, time.Time{}
	}
	if c.terminated != nil {
		switch {
		case c.isInit && c.terminated.ExitCode == 0:
			return false, time.Time{}
		case policy == corev1.RestartPolicyNever && !c.isInit:
			return false, time.Time{}
		case policy == corev1.RestartPolicyNever && c.isInit:
			return false, time.Time{}
		case policy == corev1.RestartPolicyOnFailure && c.terminated.ExitCode == 0:
			return false, time.Time{}
		}
	}
	if now.Before(c.nextStart) {
		return false, c.nextStart
	}
	return true, time.Time{}
}

// start launches the container process in its namespaces. The caller holds no lock.
func (w *podWorker) startContainer(ctx context.Context, c *container) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	pod := w.currentPod()
	pc := w.podContext(pod)
	env, err := containerEnv(ctx, w.k.client, pc, &c.spec, w.k.serviceEnv(ctx))
	if err != nil {
		return err
	}
	env = c.withImageEnv(env)
	command, args := expandCommand(c.spec.Command, c.spec.Args, env)
	argv, err := c.command(command, args, env)
	if err != nil {
		return commandError(err)
	}
	n := c.restartCount
	if c.everStarted {
		n++
	}
	if err := os.MkdirAll(c.logDir(w.dir), 0o755); err != nil {
		return err
	}
	logf, err := os.OpenFile(c.logPath(w.dir, n), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := &exec.Cmd{
		Path:   argv[0],
		Args:   argv,
		Env:    env,
		Dir:    c.spec.WorkingDir,
		Stdout: logf,
		Stderr: logf,
		// Own session: signals to the kubelet's group never reach it, and
		// the whole group can be stopped at once.
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	if err := c.applyImage(cmd, pod); err != nil {
		return err
	}
	mounts, err := w.containerMounts(&c.spec)
	if err != nil {
		return err
	}
	overlayDir := filepath.Join(w.dir, "overlay", c.spec.Name)
	_ = os.RemoveAll(overlayDir)
	cg := w.containerCgroup(c) // resource limits (cgroup.go); nil: none
	if err := startInNamespaces(nsSpec{netnsPath: w.netnsPath, hostname: w.hostname(pod), mounts: mounts, overlayDir: overlayDir, cgroup: cg, rootfs: c.imageRootfs()}, cmd); err != nil {
		return fmt.Errorf("starting %s: %w", argv[0], err)
	}
	if c.everStarted {
		c.restartCount++
	}
	c.everStarted = true
	if c.terminated != nil {
		c.lastTerm = c.terminated
	}
	c.terminated = nil
	c.waitReason, c.waitMessage = "", ""
	c.running = true
	c.pid = cmd.Process.Pid
	c.startedAt = metav1.Now()
	c.env, c.argv = env, argv
	c.ready = false
	c.started = c.spec.StartupProbe == nil
	exited := make(chan struct{})
	c.exited = exited
	w.writePidFile(c.spec.Name, c.pid)

	probeCtx, cancel := context.WithCancel(ctx)
	c.stopProbes = cancel
	w.startProbes(probeCtx, c)

	go func() {
		err := cmd.Wait()
		cancel()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				code = 128 + int(ws.Signal())
			} else {
				code = ee.ExitCode()
			}
		} else if err != nil {
			code = 128
		}
		c.mu.Lock()
		reason := "Completed"
		if code != 0 {
			reason = "Error"
		}
		if cg.oomKilled() {
			reason = "OOMKilled"
		}
		c.running, c.ready, c.started = false, false, false
		c.terminated = &corev1.ContainerStateTerminated{
			ExitCode: int32(code), Reason: reason, StartedAt: c.startedAt, FinishedAt: metav1.Now(),
			ContainerID: w.containerID(c.spec.Name, c.restartCount),
			Message:     terminationMessage(&c.spec, code, c.logPath(w.dir, n)),
		}
		// Back off on quick crashes; a container that ran for a while starts over.
		if time.Since(c.startedAt.Time) > 10*time.Minute || c.backoff == 0 {
			c.backoff = backoffInitial
		} else {
			c.backoff = min(2*c.backoff, backoffMax)
		}
		c.nextStart = time.Now().Add(c.backoff)
		c.mu.Unlock()
		w.removePidFile(c.spec.Name)
		close(exited)
		w.wake()
	}()
	return nil
}

// stop sends SIGTERM to the container's process group, then SIGKILL once
// grace has passed, and waits for the process to end.
func (c *container) stop(grace time.Duration) {
	c.mu.Lock()
	c.stopping = true
	running, pid, exited := c.running, c.pid, c.exited
	if c.stopProbes != nil {
		c.stopProbes()
	}
	c.mu.Unlock()
	if !running {
		return
	}
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	_ = syscall.Kill(pid, syscall.SIGTERM)
	select {
	case <-exited:
		return
	case <-time.After(grace):
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	_ = syscall.Kill(pid, syscall.SIGKILL)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
	}
}

// kill ends the current process (failed liveness probe) so the restart
// policy decides what happens next.
func (c *container) kill(grace time.Duration) {
	c.mu.Lock()
	running, pid, exited := c.running, c.pid, c.exited
	c.mu.Unlock()
	if !running {
		return
	}
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(grace):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// status renders the container's ContainerStatus.
func (c *container) status(w *podWorker) corev1.ContainerStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := corev1.ContainerStatus{
		Name:         c.spec.Name,
		Image:        c.spec.Image,
		RestartCount: c.restartCount,
		Ready:        c.ready,
		Started:      &c.started,
	}
	if c.imageKnown {
		s.ImageID = "sandbox://" + c.binary
	}
	if c.img.pulled != nil {
		s.ImageID = c.img.pulled.imageID()
	}
	if c.everStarted {
		s.ContainerID = w.containerID(c.spec.Name, c.restartCount)
	}
	switch {
	case c.running:
		s.State.Running = &corev1.ContainerStateRunning{StartedAt: c.startedAt}
	case c.terminated != nil && c.waitReason == "":
		t := *c.terminated
		s.State.Terminated = &t
	default:
		reason := c.waitReason
		if reason == "" {
			reason = "ContainerCreating"
		}
		s.State.Waiting = &corev1.ContainerStateWaiting{Reason: reason, Message: c.waitMessage}
	}
	if c.lastTerm != nil {
		t := *c.lastTerm
		s.LastTerminationState.Terminated = &t
	}
	if c.terminated != nil && c.waitReason != "" {
		t := *c.terminated
		s.LastTerminationState.Terminated = &t
	}
	started := c.started
	s.Started = &started
	return s
}
