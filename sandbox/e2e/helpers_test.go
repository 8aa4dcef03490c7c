package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// binary is the netdoctor-sandbox under test (built by `make sandbox`).
var binary = func() string {
	if b := os.Getenv("NETDOCTOR_SANDBOX_BINARY"); b != "" {
		return b
	}
	p, _ := filepath.Abs("../../_output/bin/linux/amd64/netdoctor-sandbox")
	return p
}()

// result of one command run.
type result struct {
	stdout, stderr string
	code           int
}

func sandbox(args ...string) result {
	cmd := exec.Command(binary, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		code = -1
	}
	return result{o.String(), e.String(), code}
}

func mustSandbox(t testing.TB, args ...string) string {
	t.Helper()
	r := sandbox(args...)
	if r.code != 0 {
		t.Fatalf("netdoctor-sandbox %s: exit %d\n%s\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// inNetns runs fn on an OS thread switched into the named network namespace;
// sockets fn creates belong to that namespace.
func inNetns(name string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		target, err := os.Open("/run/netns/" + name)
		if err != nil {
			errc <- err
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", name, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			// Leave the thread locked: it dies with this goroutine.
			errc <- fmt.Errorf("restoring netns: %w", err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

const probeTimeout = 2 * time.Second

// httpGet does GET http://addr/ from inside netns.
func httpGet(netns, addr string) error {
	_, err := echoHost(netns, addr)
	return err
}

// echoHost does GET http://addr/ from inside netns and returns the echo
// server's "host" (its pod's hostname: the pod name).
func echoHost(netns, addr string) (string, error) {
	var host string
	err := inNetns(netns, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
		defer cancel()
		conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(probeTimeout))
		fmt.Fprintf(conn, "GET / HTTP/1.0\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var ans struct {
			Host *string `json:"host"`
		}
		if resp.StatusCode != 200 || json.Unmarshal(b, &ans) != nil || ans.Host == nil {
			return fmt.Errorf("unexpected answer %d %q", resp.StatusCode, b)
		}
		host = *ans.Host
		return nil
	})
	return host, err
}

// udpEcho sends size bytes to addr from inside netns and waits for the echo.
func udpEcho(netns, addr string, size int) error {
	return inNetns(netns, func() error {
		conn, err := net.Dial("udp", addr)
		if err != nil {
			return err
		}
		defer conn.Close()
		msg := bytes.Repeat([]byte("x"), size)
		conn.SetDeadline(time.Now().Add(probeTimeout))
		if _, err := conn.Write(msg); err != nil {
			return err
		}
		buf := make([]byte, size+10)
		n, err := conn.Read(buf)
		if err != nil {
			return err
		}
		if n != size {
			return fmt.Errorf("echo returned %d bytes, sent %d", n, size)
		}
		return nil
	})
}

// ping sends one ICMP echo from inside netns.
func ping(netns, addr string) error {
	out, err := exec.Command("ip", "netns", "exec", netns, "ping", "-n", "-c", "1", "-W", "2", addr).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ping %s: %w: %s", addr, err, lastLine(string(out)))
	}
	return nil
}

// dig resolves name (type A or AAAA) against server from inside netns.
func dig(netns, server, name, typ string) (string, error) {
	out, err := exec.Command("ip", "netns", "exec", netns, "dig", "+short", "+time=2", "+tries=1", "@"+server, name, typ).CombinedOutput()
	s := strings.TrimSpace(string(out))
	if err != nil || strings.Contains(s, "timed out") || strings.Contains(s, "no servers") {
		return "", fmt.Errorf("dig @%s %s %s: %v: %s", server, name, typ, err, s)
	}
	return s, nil
}

func lastLine(s string) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	return l[len(l)-1]
}

func hostPort(ip string, port int) string { return net.JoinHostPort(ip, fmt.Sprint(port)) }
