package image

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

var (
	binOnce sync.Once
	bins    map[string]string
	binErr  error
	binDir  string
)

// testBinaries cross-builds a tiny static program for amd64 and arm64 once.
func testBinaries(t *testing.T) map[string]string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "netctl-image-test-")
		if binErr != nil {
			return
		}
		src := filepath.Join(binDir, "main.go")
		if binErr = os.WriteFile(src, []byte("package main\n\nfunc main() { println(\"hello\") }\n"), 0o644); binErr != nil {
			return
		}
		bins = map[string]string{}
		for _, arch := range []string{"amd64", "arm64"} {
			out := filepath.Join(binDir, arch)
			cmd := exec.Command("go", "build", "-trimpath", "-o", out, src)
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch, "GOFLAGS=")
			cmd.Dir = binDir
			if b, err := cmd.CombinedOutput(); err != nil {
				binErr = errors.New(string(b))
				return
			}
			bins["linux/"+arch] = out
		}
	})
	if binErr != nil {
		t.Fatalf("building test binaries: %v", binErr)
	}
	return bins
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

func build(t *testing.T, platforms ...string) v1.ImageIndex {
	t.Helper()
	all := testBinaries(t)
	o := Options{Binaries: map[string]string{}, Version: "v1.2.3", Revision: "abc123"}
	for _, p := range platforms {
		o.Binaries[p] = all[p]
	}
	idx, err := Build(o)
	if err != nil {
		t.Fatal(err)
	}
	return idx
}

func digest(t *testing.T, idx v1.ImageIndex) v1.Hash {
	t.Helper()
	d, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestPlatformIndexAndConfig(t *testing.T) {
	idx := build(t, "linux/arm64", "linux/amd64")
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.MediaType != types.OCIImageIndex {
		t.Errorf("index media type %s, want %s", m.MediaType, types.OCIImageIndex)
	}
	if m.Annotations[LabelVersion] != "v1.2.3" || m.Annotations[LabelRevision] != "abc123" {
		t.Errorf("index annotations %v", m.Annotations)
	}
	var got []string
	for _, d := range m.Manifests {
		if d.MediaType != types.OCIManifestSchema1 {
			t.Errorf("manifest media type %s", d.MediaType)
		}
		got = append(got, d.Platform.String())
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cf.OS+"/"+cf.Architecture != d.Platform.String() {
			t.Errorf("config platform %s/%s under index platform %s", cf.OS, cf.Architecture, d.Platform)
		}
		if cf.Config.User != "65532:65532" || strings.Join(cf.Config.Entrypoint, " ") != "/usr/local/bin/netctl" {
			t.Errorf("%s: user %q entrypoint %q", d.Platform, cf.Config.User, cf.Config.Entrypoint)
		}
		if cf.Config.Labels[LabelVersion] != "v1.2.3" || cf.Config.Labels[LabelRevision] != "abc123" {
			t.Errorf("%s: labels %v", d.Platform, cf.Config.Labels)
		}
		if !cf.Created.Time.Equal(Epoch) {
			t.Errorf("%s: created %v, want the fixed epoch", d.Platform, cf.Created)
		}
		mf, _ := img.Manifest()
		if mf.Config.MediaType != types.OCIConfigJSON || len(mf.Layers) != 1 || mf.Layers[0].MediaType != types.OCILayer {
			t.Errorf("%s: manifest %+v", d.Platform, mf)
		}
		// The layer: sorted paths, fixed times, the binary byte for byte.
		files := layerFiles(t, img)
		var names []string
		for _, f := range files {
			names = append(names, f.name)
			if !f.mtime.Equal(Epoch) {
				t.Errorf("%s: %s mtime %v", d.Platform, f.name, f.mtime)
			}
		}
		if !sort.StringsAreSorted(names) || strings.Join(names, " ") != strings.Join(RootfsPaths(), " ") {
			t.Errorf("%s: layer paths %v, want %v (sorted)", d.Platform, names, RootfsPaths())
		}
		want, _ := os.ReadFile(testBinaries(t)[d.Platform.String()])
		for _, f := range files {
			if f.name == "usr/local/bin/netctl" && (string(f.data) != string(want) || f.mode != 0o755) {
				t.Errorf("%s: binary in image differs from the input (mode %o)", d.Platform, f.mode)
			}
			if f.name == "etc/passwd" && !strings.Contains(string(f.data), ":65532:65532:") {
				t.Errorf("%s: passwd lacks user 65532: %q", d.Platform, f.data)
			}
		}
	}
	if strings.Join(got, ",") != "linux/amd64,linux/arm64" {
		t.Errorf("platforms %v, want linux/amd64,linux/arm64 (sorted)", got)
	}
}

type tfile struct {
	name  string
	mode  int64
	mtime time.Time
	data  []byte
}

func layerFiles(t *testing.T, img v1.Image) []tfile {
	t.Helper()
	ls, err := img.Layers()
	if err != nil || len(ls) != 1 {
		t.Fatalf("layers: %v (%d)", err, len(ls))
	}
	rc, err := ls[0].Compressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	zr, err := gzip.NewReader(rc)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var out []tfile
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		out = append(out, tfile{name: h.Name, mode: h.Mode, mtime: h.ModTime, data: b})
	}
}

func TestReproducibleDigestLayoutAndTar(t *testing.T) {
	a, b := build(t, "linux/amd64", "linux/arm64"), build(t, "linux/amd64", "linux/arm64")
	if digest(t, a) != digest(t, b) {
		t.Fatalf("two builds of the same inputs: %s and %s", digest(t, a), digest(t, b))
	}
	dir := t.TempDir()
	for _, p := range []string{"one.tar", "two.tar"} {
		if err := Write(build(t, "linux/amd64", "linux/arm64"), filepath.Join(dir, p), "v1.2.3"); err != nil {
			t.Fatal(err)
		}
	}
	one, _ := os.ReadFile(filepath.Join(dir, "one.tar"))
	two, _ := os.ReadFile(filepath.Join(dir, "two.tar"))
	if len(one) == 0 || string(one) != string(two) {
		t.Errorf("two .tar writes differ (%d and %d bytes)", len(one), len(two))
	}
	// A different label is a different image.
	o := Options{Binaries: map[string]string{"linux/amd64": testBinaries(t)["linux/amd64"]}, Version: "v9"}
	c, err := Build(o)
	if err != nil {
		t.Fatal(err)
	}
	if digest(t, c) == digest(t, a) {
		t.Error("different version label, same digest")
	}
}

func TestLayoutDirAndTarRoundTrip(t *testing.T) {
	idx := build(t, "linux/amd64", "linux/arm64")
	dir := t.TempDir()
	for _, out := range []string{filepath.Join(dir, "layout"), filepath.Join(dir, "img.tar")} {
		if err := Write(idx, out, "v1.2.3"); err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(out, "layout") {
			for _, f := range []string{"oci-layout", "index.json", "blobs/sha256"} {
				if _, err := os.Stat(filepath.Join(out, f)); err != nil {
					t.Errorf("layout lacks %s", f)
				}
			}
			b, _ := os.ReadFile(filepath.Join(out, "index.json"))
			if !strings.Contains(string(b), `"org.opencontainers.image.ref.name": "v1.2.3"`) || !strings.Contains(string(b), digest(t, idx).String()) {
				t.Errorf("index.json does not list the image as v1.2.3: %s", b)
			}
		}
		back, cleanup, err := Read(out)
		if err != nil {
			t.Fatal(err)
		}
		if digest(t, back) != digest(t, idx) {
			t.Errorf("%s: read back %s, wrote %s", out, digest(t, back), digest(t, idx))
		}
		cleanup()
	}
	if _, _, err := Read(filepath.Join(dir, "missing.tar")); !errors.Is(err, ErrBadInput) {
		t.Errorf("reading a missing image: %v, want bad input", err)
	}
}

func TestBadInput(t *testing.T) {
	all := testBinaries(t)
	for _, tc := range []struct {
		name string
		bins map[string]string
		want string
	}{
		{"unknown platform", map[string]string{"linux/mips": all["linux/amd64"]}, `unknown platform "linux/mips"`},
		{"missing binary", map[string]string{"linux/amd64": "/nonexistent/netctl"}, "/nonexistent/netctl does not exist"},
		{"wrong arch", map[string]string{"linux/arm64": all["linux/amd64"]}, "is built for EM_X86_64, not EM_AARCH64"},
		{"not ELF", map[string]string{"linux/amd64": "image_test.go"}, "not an ELF executable"},
		{"nothing", map[string]string{}, "no platform"},
	} {
		_, err := Build(Options{Binaries: tc.bins})
		if !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want bad input naming %q", tc.name, err, tc.want)
		}
	}
}

// TestPush pushes to an in-process registry on 127.0.0.1 and pulls back.
func TestPush(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	idx := build(t, "linux/amd64", "linux/arm64")
	ref := u.Host + "/team/netctl:v1.2.3"
	d, err := Push(context.Background(), idx, ref, PushOptions{Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	if d != digest(t, idx) {
		t.Errorf("push returned %s, want %s", d, digest(t, idx))
	}
	r, _ := name.ParseReference(ref, name.Insecure)
	got, err := remote.Index(r)
	if err != nil {
		t.Fatal(err)
	}
	if digest(t, got) != d {
		t.Errorf("registry has %s, pushed %s", digest(t, got), d)
	}
	// Unreachable: a port nothing listens on.
	dead := httptest.NewServer(nil)
	deadHost := strings.TrimPrefix(dead.URL, "http://")
	dead.Close()
	_, err = Push(context.Background(), idx, deadHost+"/x/netctl:v1", PushOptions{Insecure: true})
	if err == nil || !strings.Contains(err.Error(), "registry unreachable") || strings.Contains(err.Error(), "\n") {
		t.Errorf("unreachable registry: %v, want one line naming it unreachable", err)
	}
	// Bad reference.
	if _, err := Push(context.Background(), idx, "UPPER/Case::x", PushOptions{}); !errors.Is(err, ErrBadInput) {
		t.Errorf("bad reference: %v", err)
	}
}

// TestPushRejected: a registry that refuses (401) gives one line naming the cause.
func TestPushRejected(t *testing.T) {
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != "GET" || r.URL.Path != "/v2/" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(401)
			_, _ = w.Write([]byte(`{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`))
			return
		}
		reg.ServeHTTP(w, r)
	}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	_, err := Push(context.Background(), build(t, "linux/amd64"), u.Host+"/x/netctl:v1", PushOptions{Insecure: true})
	if err == nil || !strings.Contains(err.Error(), "HTTP 401") || !strings.Contains(err.Error(), "docker login") || strings.Contains(err.Error(), "\n") {
		t.Errorf("rejected push: %v, want one line naming the 401 and docker login", err)
	}
}
