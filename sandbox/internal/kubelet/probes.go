package kubelet

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

type probeKind int

const (
	readiness probeKind = iota
	liveness
	startup
)

// startProbes runs the container's probes until ctx ends (the process exits
// or the pod stops). Results go straight into the container and wake the
// worker when they change what the status says.
func (w *podWorker) startProbes(ctx context.Context, c *container) {
	if c.spec.ReadinessProbe == nil && !c.isInit {
		c.ready = true // caller holds c.mu
	}
	for kind, p := range map[probeKind]*corev1.Probe{readiness: c.spec.ReadinessProbe, liveness: c.spec.LivenessProbe, startup: c.spec.StartupProbe} {
		if p != nil {
			go w.probeLoop(ctx, c, kind, p)
		}
	}
}

func (w *podWorker) probeLoop(ctx context.Context, c *container, kind probeKind, p *corev1.Probe) {
	period := time.Duration(max(p.PeriodSeconds, 1)) * time.Second
	timeout := time.Duration(max(p.TimeoutSeconds, 1)) * time.Second
	success, failure := int(max(p.SuccessThreshold, 1)), int(max(p.FailureThreshold, 1))
	if kind != readiness {
		success = 1
	}
	delay := time.Duration(p.InitialDelaySeconds) * time.Second
	okRun, failRun := 0, 0
	// The first readiness check comes quickly so pods turn Ready fast; the
	// real kubelet also probes right after the initial delay.
	t := time.NewTimer(max(delay, 100*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if kind != startup {
			c.mu.Lock()
			started := c.started
			c.mu.Unlock()
			if !started {
				t.Reset(period)
				continue
			}
		}
		err := w.runProbe(ctx, c, p, timeout)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			okRun, failRun = okRun+1, 0
		} else {
			okRun, failRun = 0, failRun+1
		}
		changed := false
		c.mu.Lock()
		switch kind {
		case readiness:
			if okRun >= success && !c.ready {
				c.ready, changed = true, true
			}
			if failRun >= failure && c.ready {
				c.ready, changed = false, true
			}
			// Not ready yet and failing: keep probing at the period.
		case startup:
			if okRun >= success && !c.started {
				c.started, changed = true, true
			}
		}
		c.mu.Unlock()
		if kind == liveness && failRun >= failure {
			w.k.log.Printf("pod %s container %s: liveness probe failed: %v", w.uid, c.spec.Name, err)
			grace := 30 * time.Second
			if p.TerminationGracePeriodSeconds != nil {
				grace = time.Duration(*p.TerminationGracePeriodSeconds) * time.Second
			}
			c.kill(grace)
			return
		}
		if kind == startup && failRun >= failure {
			c.kill(time.Second)
			return
		}
		if changed {
			w.wake()
		}
		if kind == startup && okRun >= success {
			return
		}
		// Until the first success, readiness probes come quicker than the period.
		next := period
		if kind == readiness && !c.isReady() && okRun == 0 && failRun < 10 {
			next = min(period, 250*time.Millisecond)
		}
		t.Reset(next)
	}
}

func (c *container) isReady() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ready
}

// runProbe performs one probe from inside the pod's network namespace.
func (w *podWorker) runProbe(ctx context.Context, c *container, p *corev1.Probe, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	podIP := first(w.podIPs)
	switch {
	case p.Exec != nil:
		c.mu.Lock()
		pid, env, dir := c.pid, c.env, c.spec.WorkingDir
		c.mu.Unlock()
		argv, err := c.execCommand(p.Exec.Command)
		if err != nil {
			return err
		}
		cmd := nsenterCommand(pid, dir, argv)
		cmd.Env = env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			return err
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				return fmt.Errorf("exec probe: %w: %s", err, out.String())
			}
			return nil
		case <-ctx.Done():
			_ = cmd.Process.Kill()
			<-done
			return ctx.Err()
		}
	case p.TCPSocket != nil:
		host := p.TCPSocket.Host
		if host == "" {
			host = podIP
		}
		port, err := resolvePort(p.TCPSocket.Port, &c.spec)
		if err != nil {
			return err
		}
		conn, err := w.dialInPod(ctx, net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return err
		}
		return conn.Close()
	case p.HTTPGet != nil:
		g := p.HTTPGet
		host := g.Host
		if host == "" {
			host = podIP
		}
		port, err := resolvePort(g.Port, &c.spec)
		if err != nil {
			return err
		}
		scheme := "http"
		if g.Scheme == corev1.URISchemeHTTPS {
			scheme = "https"
		}
		u := url.URL{Scheme: scheme, Host: net.JoinHostPort(host, strconv.Itoa(port)), Path: g.Path}
		if u.Path == "" {
			u.Path = "/"
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return err
		}
		for _, h := range g.HTTPHeaders {
			req.Header.Add(h.Name, h.Value)
		}
		req.Header.Set("User-Agent", "kube-probe/1.34")
		tr := &http.Transport{
			DialContext:       func(ctx context.Context, _, addr string) (net.Conn, error) { return w.dialInPod(ctx, addr) },
			TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, // as the kubelet: probes do not verify certificates
			DisableKeepAlives: true,
		}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr, Timeout: timeout}).Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode >= 400 {
			return fmt.Errorf("HTTP probe failed with statuscode: %d", resp.StatusCode)
		}
		return nil
	case p.GRPC != nil:
		return fmt.Errorf("gRPC probes are not supported by the sandbox")
	}
	return fmt.Errorf("probe has no handler")
}

// dialInPod opens a TCP connection from inside the pod's network namespace:
// the socket is created on a thread switched into it.
func (w *podWorker) dialInPod(ctx context.Context, addr string) (net.Conn, error) {
	var conn net.Conn
	err := inNetns(w.netnsPath, func() error {
		var d net.Dialer
		var err error
		conn, err = d.DialContext(ctx, "tcp", addr)
		return err
	})
	return conn, err
}

func resolvePort(p intstr.IntOrString, c *corev1.Container) (int, error) {
	if p.Type == intstr.Int {
		return p.IntValue(), nil
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	if n, err := strconv.Atoi(p.StrVal); err == nil {
		return n, nil
	}
	return 0, fmt.Errorf("no container port named %q", p.StrVal)
}
