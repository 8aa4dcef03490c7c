package kubelet

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/utils/ptr"
)

type testPKI struct {
	dir                           string
	caFile, serverCert, serverKey string
	clientCert, clientKey         []byte
	caPEM                         []byte
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	issue := func(serial int64, usage x509.ExtKeyUsage, ips []net.IP) ([]byte, []byte) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: fmt.Sprint("leaf", serial)},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: ips}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kd, _ := x509.MarshalECPrivateKey(key)
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd})
	}
	p := testPKI{dir: dir, caPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})}
	sc, sk := issue(2, x509.ExtKeyUsageServerAuth, []net.IP{net.ParseIP("127.0.0.1")})
	p.clientCert, p.clientKey = issue(3, x509.ExtKeyUsageClientAuth, nil)
	p.caFile, p.serverCert, p.serverKey = filepath.Join(dir, "ca.crt"), filepath.Join(dir, "s.crt"), filepath.Join(dir, "s.key")
	for f, d := range map[string][]byte{p.caFile: p.caPEM, p.serverCert: sc, p.serverKey: sk} {
		if err := os.WriteFile(f, d, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// proxyIntoNetns forwards a loopback port in the test's namespace to addr
// inside the node namespace (the API server would reach it over the bridge).
func proxyIntoNetns(t *testing.T, netnsPath, addr string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				var up net.Conn
				err := inNetns(netnsPath, func() error {
					var err error
					up, err = net.DialTimeout("tcp", addr, 2*time.Second)
					return err
				})
				if err != nil {
					return
				}
				defer up.Close()
				go io.Copy(up, c)
				io.Copy(c, up)
			}()
		}
	}()
	return ln.Addr().String()
}

// TestExecAndLogs runs a pod and uses the kubelet server as the API server
// would: mutual TLS, SPDY exec (stdout, stderr, exit code, container
// namespaces) and containerLogs.
func TestExecAndLogs(t *testing.T) {
	needRoot(t)
	node, pki, client, ctx := servingKubelet(t, "x", "10.254.2.0/24")

	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns1", UID: "exec-test-uid"},
		Spec: corev1.PodSpec{NodeName: "node-x", TerminationGracePeriodSeconds: ptr.To[int64](1),
			Containers: []corev1.Container{{Name: "srv", Image: "example.com/test/server:v1",
				Env: []corev1.EnvVar{{Name: "ND_TEST_SERVE", Value: "8080"}, {Name: "MARK", Value: "m-42"}}}}}}
	if _, err := client.CoreV1().Pods("ns1").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "pod running", 10*time.Second, func() (bool, error) {
		p, err := client.CoreV1().Pods("ns1").Get(ctx, "web", metav1.GetOptions{})
		return err == nil && p.Status.Phase == corev1.PodRunning, err
	})

	addr := proxyIntoNetns(t, netnsPath(node.Netns), "10.254.255.1:10250")
	rc := &rest.Config{Host: "https://" + addr, TLSClientConfig: rest.TLSClientConfig{
		CAData: pki.caPEM, CertData: pki.clientCert, KeyData: pki.clientKey}}

	exec := func(cmd ...string) (string, string, error) {
		u, _ := url.Parse("https://" + addr + "/exec/ns1/web/srv")
		q := u.Query()
		for _, c := range cmd {
			q.Add("command", c)
		}
		q.Set("output", "1")
		q.Set("error", "1")
		u.RawQuery = q.Encode()
		ex, err := remotecommand.NewSPDYExecutor(rc, "POST", u)
		if err != nil {
			t.Fatal(err)
		}
		var out, errb bytes.Buffer
		err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &out, Stderr: &errb})
		return out.String(), errb.String(), err
	}
	out, _, err := exec("sh", "-c", "hostname; echo $MARK; cat /etc/hosts | grep web; echo oops >&2")
	if err != nil {
		t.Fatalf("exec: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 3 || lines[0] != "web" || lines[1] != "m-42" || !strings.Contains(lines[2], "10.254.2.") {
		t.Errorf("exec output %q: want hostname, env and the pod IP in /etc/hosts", out)
	}
	_, _, err = exec("sh", "-c", "exit 3")
	if err == nil || !strings.Contains(err.Error(), "exit code 3") {
		t.Errorf("exit 3: err %v", err)
	}

	// Logs over mutual TLS; without a client certificate the server refuses.
	cert, _ := tls.X509KeyPair(pki.clientCert, pki.clientKey)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pki.caPEM)
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}}}
	// The container writes its first line asynchronously to Running: poll.
	var resp *http.Response
	var body []byte
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err = hc.Get("https://" + addr + "/containerLogs/ns1/web/srv?tailLines=1")
		if err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if len(body) > 0 || time.Now().After(deadline) {
			break
		}
	}
	if resp.StatusCode != 200 || string(body) != "test server starting\n" {
		t.Errorf("logs: %d %q", resp.StatusCode, body)
	}
	anon := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	if resp, err := anon.Get("https://" + addr + "/healthz"); err == nil {
		resp.Body.Close()
		t.Errorf("request without client certificate was served: %s", resp.Status)
	}
}
