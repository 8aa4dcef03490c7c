// Package controlplane starts and stops the sandbox's daemons (etcd, the
// Kubernetes components, kube-proxy per node, the node agent) and writes
// the files they need (token file, kubeconfigs).
package controlplane

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/netdoctor/netdoctor/sandbox/internal/state"
)

// Start launches argv as a daemon in its own session (so a killed parent does
// not take it down), inside netns when set, logging to dir/logs/<name>.log.
func Start(dir, name, netns string, argv []string) (state.Process, error) {
	logDir := filepath.Join(dir, "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return state.Process{}, fmt.Errorf("creating %s: %w", logDir, err)
	}
	logPath := filepath.Join(logDir, strings.ReplaceAll(name, "/", "_")+".log")
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return state.Process{}, fmt.Errorf("opening log %s: %w", logPath, err)
	}
	defer lf.Close()
	if netns != "" {
		// nsenter execs the program (no fork), so the PID is the daemon's own.
		argv = append([]string{"nsenter", "--net=/run/netns/" + netns, "--"}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return state.Process{}, fmt.Errorf("starting %s: %w", name, err)
	}
	p := state.Process{Name: name, PID: cmd.Process.Pid, Log: logPath}
	// Reap it if it exits while we are still running; afterwards init does.
	go cmd.Wait()
	return p, nil
}

// Alive reports whether pid runs (zombies count as dead).
func Alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// Cmdline returns the command line of pid.
func Cmdline(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return strings.ReplaceAll(string(b), "\x00", " ")
}

// Kill stops the pids: SIGTERM, then SIGKILL after grace. It returns when
// all are gone or after grace+5s.
func Kill(pids []int, grace time.Duration) error {
	for _, p := range pids {
		syscall.Kill(p, syscall.SIGTERM)
	}
	deadline := time.Now().Add(grace)
	killed := false
	for {
		var left []int
		for _, p := range pids {
			if Alive(p) {
				left = append(left, p)
			}
		}
		if len(left) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			if killed {
				return fmt.Errorf("processes did not exit: %v", left)
			}
			for _, p := range left {
				syscall.Kill(p, syscall.SIGKILL)
			}
			killed = true
			deadline = time.Now().Add(5 * time.Second)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// NetnsPIDs lists the processes inside a named network namespace.
func NetnsPIDs(ctx context.Context, netns string) ([]int, error) {
	out, err := exec.CommandContext(ctx, "ip", "netns", "pids", netns).Output()
	if err != nil {
		return nil, fmt.Errorf("ip netns pids %s: %w", netns, err)
	}
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		if p, err := strconv.Atoi(f); err == nil {
			pids = append(pids, p)
		}
	}
	return pids, nil
}

// WaitFor polls fn every interval until it returns nil or ctx ends.
func WaitFor(ctx context.Context, what string, interval time.Duration, fn func(context.Context) error) error {
	var last error
	for {
		if last = fn(ctx); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w (last error: %v)", what, ctx.Err(), last)
		case <-time.After(interval):
		}
	}
}

// ErrExited means a daemon died during start-up.
var ErrExited = errors.New("exited")

// CheckAlive returns an error naming the log if p is no longer running.
func CheckAlive(p state.Process) error {
	if !Alive(p.PID) {
		return fmt.Errorf("%s (pid %d) %w; see %s", p.Name, p.PID, ErrExited, p.Log)
	}
	return nil
}

// Hidden subcommands of netdoctor-sandbox that faults run as processes
// (host-port, conntrack-full).
const (
	HoldPortCommand      = "hold-port"
	FillConntrackCommand = "fill-conntrack"
)

// IsFaultProcess reports whether pid runs and is one of the fault
// processes (the PID may have been reused since it was recorded).
func IsFaultProcess(pid int) bool {
	if !Alive(pid) {
		return false
	}
	cl := Cmdline(pid) + " "
	return strings.Contains(cl, " "+HoldPortCommand+" ") || strings.Contains(cl, " "+FillConntrackCommand+" ")
}
