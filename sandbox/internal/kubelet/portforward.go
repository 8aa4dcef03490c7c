package kubelet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/kubelet/pkg/cri/streaming/portforward"
)

// servePortForward handles /portForward/{ns}/{pod} and
// /portForward/{ns}/{pod}/{uid}: `kubectl port-forward` through the API
// server. The kubelet's own streaming library does the protocol work
// (SPDY, and websockets with the port in the query), as for /exec.
func (k *kubelet) servePortForward(w http.ResponseWriter, r *http.Request) {
	parts := splitPath(r.URL.Path, "/portForward/")
	if len(parts) != 2 && len(parts) != 3 {
		http.Error(w, "want /portForward/{namespace}/{pod}", http.StatusNotFound)
		return
	}
	pw, err := k.findPod(parts[0], parts[1])
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	opts, err := portforward.NewV4Options(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	portforward.ServePortForward(w, r, podForwarder{w: pw}, parts[1], pw.uid, opts,
		4*time.Hour, 30*time.Second, portforward.SupportedProtocols)
}

// findPod looks up a pod this kubelet runs by namespace/name.
func (k *kubelet) findPod(ns, pod string) (*podWorker, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, w := range k.workers {
		if w.podNamespace == ns && w.podName == pod {
			return w, nil
		}
	}
	return nil, fmt.Errorf("pod %s/%s is not running on this kubelet", ns, pod)
}

// podForwarder connects port-forward streams to localhost:PORT inside one
// pod's network namespace, as container runtimes do.
type podForwarder struct{ w *podWorker }

// netnsOf returns the network namespace of the pod's first running
// container (the pod's namespace, or the node's for hostNetwork pods).
func (f podForwarder) netnsOf() (string, error) {
	if f.w.node.agentless() {
		return "", fmt.Errorf("pod %s/%s runs nothing on node %s", f.w.podNamespace, f.w.podName, f.w.node.Name)
	}
	for _, c := range f.w.containers {
		c.mu.Lock()
		running, pid := c.running, c.pid
		c.mu.Unlock()
		if running {
			return fmt.Sprintf("/proc/%d/ns/net", pid), nil
		}
	}
	return "", fmt.Errorf("pod %s/%s has no running container", f.w.podNamespace, f.w.podName)
}

// PortForward implements portforward.PortForwarder.
func (f podForwarder) PortForward(ctx context.Context, _ string, _ types.UID, port int32, stream io.ReadWriteCloser) error {
	if port <= 0 || port > 65535 {
		return fmt.Errorf("invalid port %d", port)
	}
	ns, err := f.netnsOf()
	if err != nil {
		return err
	}
	conn, err := dialInNetns(ctx, ns, int(port))
	if err != nil {
		return err
	}
	return pipe(conn, stream)
}

// dialInNetns connects to localhost:port inside the network namespace at
// path: 127.0.0.1 first, then ::1. The socket belongs to that namespace.
func dialInNetns(ctx context.Context, path string, port int) (net.Conn, error) {
	var conn net.Conn
	err := inNetns(path, func() error {
		d := net.Dialer{Timeout: 5 * time.Second}
		var errs []error
		for _, addr := range []string{"127.0.0.1", "::1"} {
			c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(addr, strconv.Itoa(port)))
			if err == nil {
				conn = c
				return nil
			}
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
	if err != nil {
		return nil, fmt.Errorf("connecting to localhost:%d in the pod: %w", port, err)
	}
	return conn, nil
}

// pipe copies both ways until the pod side is done. The client closing its
// side (EOF) half-closes the connection so the answer still comes back; a
// broken client stream closes the connection.
func pipe(conn net.Conn, stream io.ReadWriteCloser) error {
	defer conn.Close()
	up := make(chan error, 1)
	go func() {
		_, err := io.Copy(conn, stream)
		if err == nil {
			if tc, ok := conn.(*net.TCPConn); ok {
				_ = tc.CloseWrite()
			}
		} else {
			conn.Close()
		}
		up <- err
	}()
	_, err := io.Copy(stream, conn)
	if err != nil && errors.Is(err, net.ErrClosed) {
		err = <-up // the client went away first: report why
	}
	return err
}
