package kubelet

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/types"
	remotecommandconsts "k8s.io/apimachinery/pkg/util/remotecommand"
	"k8s.io/client-go/tools/remotecommand"
	crirc "k8s.io/kubelet/pkg/cri/streaming/remotecommand"
	utilexec "k8s.io/utils/exec"
)

// startServer opens the kubelet API (exec, logs, healthz) on port 10250 of
// every node IP, each listener created inside its node's namespace.
func (k *kubelet) startServer(ctx context.Context) (*http.Server, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })
	mux.HandleFunc("/exec/", k.serveExec)
	mux.HandleFunc("/containerLogs/", k.serveLogs)
	mux.HandleFunc("/portForward/", k.servePortForward)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 30 * time.Second}
	if k.cfg.ServingCert == "" || k.cfg.ServingKey == "" {
		k.log.Printf("no serving certificate: the exec/logs server is off")
		return srv, nil
	}
	cert, err := tls.LoadX509KeyPair(k.cfg.ServingCert, k.cfg.ServingKey)
	if err != nil {
		return nil, fmt.Errorf("loading kubelet serving certificate: %w", err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if k.cfg.ClientCA != "" {
		pem, err := os.ReadFile(k.cfg.ClientCA)
		if err != nil {
			return nil, fmt.Errorf("reading kubelet client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kubelet client CA %s holds no certificate", k.cfg.ClientCA)
		}
		tc.ClientCAs, tc.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	srv.TLSConfig = tc
	var lns []net.Listener
	for _, n := range k.nodes {
		if n.agentless() {
			continue // no kubelet API: nothing listens on its addresses
		}
		for _, ip := range n.IPs {
			var ln net.Listener
			err := inNetns(n.netnsPath, func() error {
				var err error
				ln, err = net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(kubeletPort)))
				return err
			})
			if err != nil {
				for _, l := range lns {
					l.Close()
				}
				return nil, fmt.Errorf("node %s: listening on %s:%d: %w", n.Name, ip, kubeletPort, err)
			}
			lns = append(lns, ln)
		}
	}
	for _, ln := range lns {
		go func() {
			if err := srv.Serve(tls.NewListener(ln, tc)); err != nil && !errors.Is(err, http.ErrServerClosed) {
				k.log.Printf("kubelet server: %v", err)
			}
		}()
	}
	return srv, nil
}

// findContainer looks up a running pod's container by namespace/name.
func (k *kubelet) findContainer(ns, pod, name string) (*podWorker, *container, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, w := range k.workers {
		p := w.currentPod()
		if p.Namespace != ns || p.Name != pod {
			continue
		}
		for _, c := range w.containers {
			if c.spec.Name == name || (name == "" && !c.isInit) {
				return w, c, nil
			}
		}
		return nil, nil, fmt.Errorf("pod %s/%s has no container %q", ns, pod, name)
	}
	return nil, nil, fmt.Errorf("pod %s/%s is not running on this kubelet", ns, pod)
}

// splitPath turns /prefix/a/b/c into [a b c].
func splitPath(p, prefix string) []string {
	return strings.Split(strings.Trim(strings.TrimPrefix(p, prefix), "/"), "/")
}

// serveExec handles /exec/{ns}/{pod}/{container} and /exec/{ns}/{pod}/{uid}/{container}.
func (k *kubelet) serveExec(w http.ResponseWriter, r *http.Request) {
	parts := splitPath(r.URL.Path, "/exec/")
	if len(parts) != 3 && len(parts) != 4 {
		http.Error(w, "want /exec/{namespace}/{pod}/{container}", http.StatusNotFound)
		return
	}
	ns, podName, cname := parts[0], parts[1], parts[len(parts)-1]
	pw, c, err := k.findContainer(ns, podName, cname)
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	opts, err := crirc.NewOptions(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	cmd := r.URL.Query()["command"]
	if len(cmd) == 0 {
		http.Error(w, "no command", http.StatusBadRequest)
		return
	}
	crirc.ServeExec(w, r, execer{w: pw, c: c}, podName, pw.uid, c.spec.Name, cmd, opts,
		4*time.Hour, 30*time.Second, remotecommandconsts.SupportedStreamingProtocols)
}

// execer runs commands in one container's namespaces.
type execer struct {
	w *podWorker
	c *container
}

func (e execer) ExecInContainer(ctx context.Context, _ string, _ types.UID, _ string, cmd []string, in io.Reader, out, errw io.WriteCloser, tty bool, _ <-chan remotecommand.TerminalSize, _ time.Duration) error {
	e.c.mu.Lock()
	running, pid, env := e.c.running, e.c.pid, e.c.env
	e.c.mu.Unlock()
	if !running {
		return fmt.Errorf("container %s is not running", e.c.spec.Name)
	}
	argv, err := e.c.execCommand(cmd)
	if err != nil {
		return err
	}
	c := nsenterCommand(pid, e.c.spec.WorkingDir, argv)
	c.Env = env
	c.Stdin, c.Stdout = in, out
	c.Stderr = errw
	if tty {
		// No pseudo-terminal: stderr joins stdout, as it would on a tty.
		c.Stderr = out
	}
	if err := c.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		_ = c.Process.Kill()
		err = <-done
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return utilexec.CodeExitError{Err: err, Code: ee.ExitCode()}
	}
	return err
}

// serveLogs handles /containerLogs/{ns}/{pod}/{container}?follow&tailLines&previous.
func (k *kubelet) serveLogs(w http.ResponseWriter, r *http.Request) {
	parts := splitPath(r.URL.Path, "/containerLogs/")
	if len(parts) != 3 {
		http.Error(w, "want /containerLogs/{namespace}/{pod}/{container}", http.StatusNotFound)
		return
	}
	pw, c, err := k.findContainer(parts[0], parts[1], parts[2])
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	q := r.URL.Query()
	follow := q.Get("follow") == "true"
	c.mu.Lock()
	n, everStarted, exited := c.restartCount, c.everStarted, c.exited
	c.mu.Unlock()
	if q.Get("previous") == "true" {
		if n == 0 {
			http.Error(w, fmt.Sprintf("previous terminated container %q in pod %q not found", c.spec.Name, parts[1]), http.StatusBadRequest)
			return
		}
		n--
		follow = false
	}
	if !everStarted {
		http.Error(w, fmt.Sprintf("container %q in pod %q is waiting to start", c.spec.Name, parts[1]), http.StatusBadRequest)
		return
	}
	f, err := os.Open(c.logPath(pw.dir, n))
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "text/plain")
	if tl := q.Get("tailLines"); tl != "" {
		lines, err := strconv.Atoi(tl)
		if err != nil || lines < 0 {
			http.Error(w, "bad tailLines", http.StatusBadRequest)
			return
		}
		if err := seekTail(f, lines); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	}
	if limit := q.Get("limitBytes"); limit != "" {
		if lb, err := strconv.ParseInt(limit, 10, 64); err == nil && lb > 0 {
			io.Copy(w, io.LimitReader(f, lb))
			return
		}
	}
	if !follow {
		io.Copy(w, f)
		return
	}
	flusher, _ := w.(http.Flusher)
	buf := make([]byte, 32*1024)
	for {
		nr, err := f.Read(buf)
		if nr > 0 {
			if _, werr := w.Write(buf[:nr]); werr != nil {
				return
			}
			if flusher != nil {
				flusher.Flush()
			}
		}
		if err == io.EOF {
			select {
			case <-r.Context().Done():
				return
			case <-exited:
				io.Copy(w, f) // the rest, then stop like the kubelet does
				return
			case <-time.After(200 * time.Millisecond):
			}
			continue
		}
		if err != nil {
			return
		}
	}
}

// seekTail positions f at the start of its last n lines.
func seekTail(f *os.File, n int) error {
	var offsets []int64
	r := bufio.NewReader(f)
	var off int64
	offsets = append(offsets, 0)
	for {
		line, err := r.ReadBytes('\n')
		off += int64(len(line))
		if len(line) > 0 && line[len(line)-1] == '\n' {
			offsets = append(offsets, off)
		}
		if err != nil {
			break
		}
	}
	// offsets[i] is where line i starts; the last entry may be EOF.
	lines := len(offsets) - 1
	if off > offsets[len(offsets)-1] {
		lines++ // unterminated last line
		offsets = append(offsets, off)
	}
	start := int64(0)
	if n < lines {
		start = offsets[lines-n]
	}
	_, err := f.Seek(start, io.SeekStart)
	return err
}
