package kubelet

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// buildStatus computes the pod status the kubelet owns from the worker's state.
func (w *podWorker) buildStatus(pod *corev1.Pod) corev1.PodStatus {
	var initSt, appSt []corev1.ContainerStatus
	for _, c := range w.containers {
		if c.isInit {
			initSt = append(initSt, c.status(w))
		} else {
			appSt = append(appSt, c.status(w))
		}
	}
	st := corev1.PodStatus{
		Phase:                 podPhase(pod.Spec.RestartPolicy, initSt, appSt),
		HostIP:                first(w.hostIPs),
		PodIP:                 first(w.podIPs),
		InitContainerStatuses: initSt,
		ContainerStatuses:     appSt,
	}
	if !w.startTime.IsZero() {
		t := w.startTime
		st.StartTime = &t
	}
	for _, ip := range w.hostIPs {
		st.HostIPs = append(st.HostIPs, corev1.HostIP{IP: ip})
	}
	for _, ip := range w.podIPs {
		st.PodIPs = append(st.PodIPs, corev1.PodIP{IP: ip})
	}

	initialized := true
	for _, s := range initSt {
		if s.State.Terminated == nil || s.State.Terminated.ExitCode != 0 {
			initialized = false
		}
	}
	var unready []string
	for _, s := range appSt {
		if !s.Ready {
			unready = append(unready, s.Name)
		}
	}
	terminal := st.Phase == corev1.PodSucceeded || st.Phase == corev1.PodFailed
	ready := len(unready) == 0 && initialized && !terminal
	if w.setupErr != nil && !w.setupDone {
		st.Message = w.setupErr.Error()
	}
	cond := func(t corev1.PodConditionType, ok bool, reason, msg string) corev1.PodCondition {
		s := corev1.ConditionFalse
		if ok {
			s = corev1.ConditionTrue
			reason, msg = "", ""
		}
		ct, seen := w.condTimes[t]
		if !seen || ct.status != s {
			ct = condTime{status: s, at: metav1.Now()}
			w.condTimes[t] = ct
		}
		return corev1.PodCondition{Type: t, Status: s, Reason: reason, Message: msg, LastTransitionTime: ct.at}
	}
	unreadyMsg := fmt.Sprintf("containers with unready status: [%s]", strings.Join(unready, " "))
	reason := "ContainersNotReady"
	if terminal {
		reason = "PodCompleted"
	}
	st.Conditions = []corev1.PodCondition{
		cond(corev1.PodReadyToStartContainers, w.setupDone, "", ""),
		cond(corev1.PodInitialized, initialized, "ContainersNotInitialized", "containers with incomplete status: init containers"),
		cond(corev1.ContainersReady, ready, reason, unreadyMsg),
		cond(corev1.PodReady, ready, reason, unreadyMsg),
	}
	return st
}

// podPhase follows the kubelet's rules closely enough: Pending until every
// container has run at least once, Succeeded/Failed when all have ended
// for good, Running otherwise.
func podPhase(policy corev1.RestartPolicy, initSt, appSt []corev1.ContainerStatus) corev1.PodPhase {
	for _, s := range initSt {
		if s.State.Terminated != nil && s.State.Terminated.ExitCode != 0 && policy == corev1.RestartPolicyNever {
			return corev1.PodFailed
		}
		if s.State.Terminated == nil || s.State.Terminated.ExitCode != 0 {
			return corev1.PodPending
		}
	}
	running, waitingNew, stopped, failed := 0, 0, 0, 0
	for _, s := range appSt {
		switch {
		case s.State.Running != nil:
			running++
		case s.State.Terminated != nil:
			stopped++
			if s.State.Terminated.ExitCode != 0 {
				failed++
			}
		case s.State.Waiting != nil:
			if s.LastTerminationState.Terminated == nil {
				waitingNew++
			} else {
				running++ // restarting
			}
		}
	}
	switch {
	case waitingNew > 0:
		return corev1.PodPending
	case running > 0:
		return corev1.PodRunning
	case stopped == len(appSt) && len(appSt) > 0:
		if policy == corev1.RestartPolicyAlways {
			return corev1.PodRunning // about to restart
		}
		if failed > 0 && policy == corev1.RestartPolicyNever {
			return corev1.PodFailed
		}
		if failed > 0 {
			return corev1.PodRunning // OnFailure: restarting
		}
		return corev1.PodSucceeded
	}
	return corev1.PodPending
}

// reportStatus patches the status subresource when it changed since the
// last write (a strategic merge patch: conditions merge by type, so the
// scheduler's PodScheduled stays; the uid guards against a recreated pod).
func (w *podWorker) reportStatus(ctx context.Context, pod *corev1.Pod) bool {
	return w.patchStatus(ctx, pod, w.buildStatus(pod))
}

// patchStatus writes st unless it is what was last written.
func (w *podWorker) patchStatus(ctx context.Context, pod *corev1.Pod, st corev1.PodStatus) bool {
	if w.lastStatus != nil && equality.Semantic.DeepEqual(*w.lastStatus, st) {
		return true
	}
	body, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"uid": w.uid},
		"status":   st,
	})
	if err != nil {
		w.k.log.Printf("pod %s/%s: encoding status: %v", pod.Namespace, pod.Name, err)
		return true
	}
	_, err = w.k.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, body, metav1.PatchOptions{}, "status")
	if err != nil {
		if ctx.Err() == nil {
			w.k.log.Printf("pod %s/%s: patching status: %v", pod.Namespace, pod.Name, err)
		}
		return false // lastStatus unchanged: the next sync tries again
	}
	w.lastStatus = &st
	return true
}
