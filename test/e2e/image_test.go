package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The agents' image: built once per test binary by the netctl under test
// (`netctl image build`), pushed to every sandbox cluster's own registry
// right after `up`, and what every check runs (imageRepository below).
var (
	imageOnce sync.Once
	imageTar  string
	imageErr  error
	imageDir  string
)

// builtImage returns the OCI archive of the netctl under test.
func builtImage(t *testing.T) string {
	t.Helper()
	imageOnce.Do(func() {
		imageDir, imageErr = os.MkdirTemp("", "netdoctor-e2e-image-")
		if imageErr != nil {
			return
		}
		imageTar = filepath.Join(imageDir, "netctl.tar")
		start := time.Now()
		r := netctlRaw(imageDir, "image", "build", "-o", imageTar)
		if r.Code != 0 {
			imageErr = fmt.Errorf("netctl image build: exit %d: %s", r.Code, r.Stderr)
			return
		}
		fmt.Printf("e2e: built the agent image in %s: %s", time.Since(start).Round(time.Millisecond), r.Stderr)
	})
	if imageErr != nil {
		t.Fatal(imageErr)
	}
	return imageTar
}

// netctlVersion is the version the netctl under test deploys (its image tag).
func netctlVersion(t *testing.T) string {
	t.Helper()
	r := netctlRaw(os.TempDir(), "version", "-o", "json")
	var v struct{ Version string }
	if err := json.Unmarshal([]byte(r.Stdout), &v); err != nil || v.Version == "" {
		t.Fatalf("netctl version -o json: %v %q", err, r.Stdout)
	}
	return v.Version
}

// pushImage puts the built image into c's registry as
// <registry>/netdoctor/netctl:<version>.
func (c *cluster) pushImage(t *testing.T) {
	t.Helper()
	if c.Registry == "" {
		t.Fatalf("cluster %s has no registry in `status -o json`", c.Name)
	}
	ref := c.Registry + "/netdoctor/netctl:" + netctlVersion(t)
	r := netctlRaw(os.TempDir(), "image", "push", "--insecure", "-i", builtImage(t), ref)
	if r.Code != 0 {
		t.Fatalf("netctl image push %s: exit %d: %s", ref, r.Code, r.Stderr)
	}
}

// imageRepository is where c's agents come from: its own registry.
func (c *cluster) imageRepository() string { return c.Registry + "/netdoctor" }

func clusterByKubeconfig(kc string) *cluster {
	clustersMu.Lock()
	defer clustersMu.Unlock()
	for _, c := range clusters {
		if c.Kubeconfig == kc && kc != "" {
			return c
		}
	}
	return nil
}

func flagValue(args []string, name string) (string, bool) {
	for i, a := range args {
		if a == name && i+1 < len(args) {
			return args[i+1], true
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// withRegistry points a netctl command at the sandbox registries of the
// clusters it talks to: --image-repository for monitor install and
// diagnose, and the config file's srcImageRepository/dstImageRepository for
// check and resume. Explicit flags still win.
func withRegistry(dir string, args []string) []string {
	if len(args) == 0 {
		return args
	}
	kc, _ := flagValue(args, "--kubeconfig")
	src := clusterByKubeconfig(kc)
	switch {
	case len(args) > 1 && args[0] == "monitor" && args[1] == "install",
		args[0] == "diagnose":
		if _, set := flagValue(args, "--image-repository"); !set && src != nil {
			return append(append([]string{}, args...), "--image-repository", src.imageRepository())
		}
	case args[0] == "check" || args[0] == "resume":
		cfgPath := filepath.Join(dir, "config.json")
		if p, ok := flagValue(args, "--config"); ok {
			cfgPath = p
			if !filepath.IsAbs(p) {
				cfgPath = filepath.Join(dir, p)
			}
		}
		b, err := os.ReadFile(cfgPath)
		if err != nil {
			return args
		}
		var m map[string]any
		if json.Unmarshal(b, &m) != nil {
			return args
		}
		if src == nil {
			if p, ok := m["srcKubeConfig"].(string); ok {
				src = clusterByKubeconfig(p)
			}
		}
		if src != nil {
			m["srcImageRepository"] = src.imageRepository()
		}
		dkc, ok := flagValue(args, "--dst-kubeconfig")
		if !ok {
			dkc, _ = m["dstKubeConfig"].(string)
		}
		if dst := clusterByKubeconfig(dkc); dst != nil {
			m["dstImageRepository"] = dst.imageRepository()
		}
		if out, err := json.MarshalIndent(m, "", "  "); err == nil {
			_ = os.WriteFile(cfgPath, out, 0o644)
		}
	}
	return args
}
