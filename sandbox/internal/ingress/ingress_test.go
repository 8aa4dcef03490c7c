package ingress

import (
	"archive/tar"
	"context"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// TestPushImage pushes a stand-in binary to an in-process registry and
// reads the image back: one file at binaryInImage, executable, the same
// bytes, the entrypoint pointing at it; a second push has the same digest.
func TestPushImage(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	bin := filepath.Join(t.TempDir(), "traefik")
	content := strings.Repeat("static traefik\n", 1000)
	if err := os.WriteFile(bin, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
	ref, err := PushImage(context.Background(), bin, host)
	if err != nil {
		t.Fatal(err)
	}
	if ref != host+"/sandbox/traefik:"+Version {
		t.Errorf("ref %q", ref)
	}
	r, _ := name.ParseReference(ref, name.Insecure)
	img, err := remote.Image(r)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.OS != "linux" || len(cf.Config.Entrypoint) != 1 || cf.Config.Entrypoint[0] != binaryInImage {
		t.Errorf("config: os %q entrypoint %v", cf.OS, cf.Config.Entrypoint)
	}
	tr := tar.NewReader(mutate.Extract(img))
	found := false
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if "/"+h.Name == binaryInImage {
			b, _ := io.ReadAll(tr)
			found = string(b) == content && h.Mode&0o111 != 0
		}
	}
	if !found {
		t.Errorf("image has no executable %s with the binary's bytes", binaryInImage)
	}
	d1, _ := img.Digest()
	if _, err := PushImage(context.Background(), bin, host); err != nil {
		t.Fatal(err)
	}
	img2, err := remote.Image(r)
	if err != nil {
		t.Fatal(err)
	}
	if d2, _ := img2.Digest(); d1 != d2 {
		t.Errorf("digest changed between pushes of the same binary: %s vs %s", d1, d2)
	}
}

// TestReadCRDs accepts only standard-channel CRDs of GatewayAPIVersion.
func TestReadCRDs(t *testing.T) {
	dir := t.TempDir()
	if _, err := readCRDs(dir); err == nil || !strings.Contains(err.Error(), "no Gateway API CRDs") {
		t.Errorf("empty dir: %v", err)
	}
	good := "metadata:\n  annotations:\n    " + crdBundleVersion + ": " + GatewayAPIVersion + "\n    gateway.networking.k8s.io/channel: standard\n"
	f := filepath.Join(dir, "gateway.networking.k8s.io_gateways.yaml")
	os.WriteFile(f, []byte(good), 0o644)
	if m, err := readCRDs(dir); err != nil || len(m) != 1 {
		t.Errorf("good CRD: %v %v", m, err)
	}
	os.WriteFile(f, []byte(strings.Replace(good, "standard", "experimental", 1)), 0o644)
	if _, err := readCRDs(dir); err == nil || !strings.Contains(err.Error(), "standard-channel") {
		t.Errorf("experimental CRD accepted: %v", err)
	}
	os.WriteFile(f, []byte(strings.Replace(good, GatewayAPIVersion, "v1.0.0", 1)), 0o644)
	if _, err := readCRDs(dir); err == nil {
		t.Error("CRD of another version accepted")
	}
}

// TestArgs: no call home; the status address only with a LoadBalancer.
func TestArgs(t *testing.T) {
	np := strings.Join(Args(""), " ")
	for _, w := range []string{"--global.checknewversion=false", "--global.sendanonymoususage=false", "--providers.kubernetesingress=true", "--providers.kubernetesgateway=true", "--entrypoints.web.address=:8000"} {
		if !strings.Contains(np, w) {
			t.Errorf("args lack %s: %s", w, np)
		}
	}
	if strings.Contains(np, "publishedservice") || strings.Contains(np, "statusaddress") {
		t.Errorf("NodePort args publish a status address: %s", np)
	}
	lb := strings.Join(Args("traefik/traefik"), " ")
	for _, w := range []string{"ingressendpoint.publishedservice=traefik/traefik", "statusaddress.service.namespace=traefik", "statusaddress.service.name=traefik"} {
		if !strings.Contains(lb, w) {
			t.Errorf("LB args lack %s: %s", w, lb)
		}
	}
}
