package kubelet

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

func testImage(t *testing.T, arch string, files map[string]string) v1.Image {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for n, data := range files {
		tw.WriteHeader(&tar.Header{Name: n, Mode: 0o755, Size: int64(len(data)), Typeflag: tar.TypeReg})
		tw.Write([]byte(data))
	}
	tw.Close()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil })
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), l)
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	cf.Config = v1.Config{Entrypoint: []string{"/usr/local/bin/netctl"}, User: "65532:65532", Env: []string{"PATH=/usr/local/bin:/bin"}}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// TestPullFromRegistry pulls from an in-process registry on 127.0.0.1 and
// checks each real failure's message.
func TestPullFromRegistry(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	push := func(ref string, idx v1.ImageIndex) {
		r, _ := name.ParseReference(host+"/"+ref, name.Insecure)
		if err := remote.WriteIndex(r, idx); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{"usr/local/bin/netctl": "#!/bin/true\n", "etc/passwd": "nonroot:x:65532:65532::/:/x\n"}
	here := testImage(t, runtime.GOARCH, files)
	push("ok/netctl:v1", mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: here,
		Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: runtime.GOARCH}}}))
	push("other/netctl:v1", mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: testImage(t, "s390x", files),
		Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "s390x"}}}))

	s := newImageStore(t.TempDir(), []string{host})
	p, err := s.pull(context.Background(), host+"/ok/netctl:v1")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := here.Digest()
	if p.digest != want.String() || p.imageID() != host+"/ok/netctl@"+want.String() {
		t.Errorf("digest %s imageID %s, want %s", p.digest, p.imageID(), want)
	}
	if b, err := os.ReadFile(filepath.Join(p.rootfs, "usr/local/bin/netctl")); err != nil || string(b) != files["usr/local/bin/netctl"] {
		t.Errorf("unpacked binary: %q %v", b, err)
	}
	if got, err := lookPathIn(p.rootfs, "netctl", "/usr/local/bin:/bin"); err != nil || got != "/usr/local/bin/netctl" {
		t.Errorf("lookPathIn netctl: %q %v", got, err)
	}
	if _, err := lookPathIn(p.rootfs, "sh", "/usr/local/bin:/bin"); err == nil || !strings.Contains(err.Error(), "executable file not found in $PATH") {
		t.Errorf("lookPathIn sh: %v", err)
	}
	if uid, gid, err := lookupUser(p.rootfs, "nonroot"); err != nil || uid != 65532 || gid != 65532 {
		t.Errorf("lookupUser nonroot: %d %d %v", uid, gid, err)
	}

	dead := httptest.NewServer(nil)
	deadHost := strings.TrimPrefix(dead.URL, "http://")
	dead.Close()
	s.registries[deadHost] = true
	locked := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`))
	}))
	defer locked.Close()
	lockedHost := strings.TrimPrefix(locked.URL, "http://")
	s.registries[lockedHost] = true
	for ref, msg := range map[string]string{
		host + "/ok/netctl:v2":        "MANIFEST_UNKNOWN",
		host + "/other/netctl:v1":     "no matching platform for linux/" + runtime.GOARCH,
		"registry.invalid/x/netctl:1": "registry registry.invalid is outside the sandbox and is never contacted",
		deadHost + "/x/netctl:v1":     "registry unreachable",
		lockedHost + "/x/netctl:v1":   "UNAUTHORIZED: authentication required",
	} {
		_, err := s.pull(context.Background(), ref)
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("pull %s: %v, want %q", ref, err, msg)
		}
	}
}
