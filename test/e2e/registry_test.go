package e2e

import (
	"archive/tar"
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// TestAgentsPulledFromRegistry: the agents run the image `netctl image
// build` made, pulled from the cluster's registry: pods carry its digest,
// they get Ready and the check passes.
func TestAgentsPulledFromRegistry(t *testing.T) {
	c := sharedCluster(t, "e2edual", 4, "dual")
	dir := workdir(t)
	rep, r := check(t, c, dir, "--namespace", "e2e-image", "--pod-wait-time", "60")
	t.Cleanup(func() { netctl(t, dir, "clean", "--kubeconfig", c.Kubeconfig, "--namespace", "e2e-image") })
	if r.Code != 0 {
		t.Fatalf("exit %d\n%s", r.Code, r.Stderr)
	}
	if len(rep.Rows) != len(c.Nodes)*len(c.Nodes)*2 {
		t.Errorf("%d rows, want %d", len(rep.Rows), len(c.Nodes)*len(c.Nodes)*2)
	}
	var pods struct {
		Items []struct {
			Spec   struct{ Containers []struct{ Image string } }
			Status struct {
				ContainerStatuses []struct {
					ImageID string
					Ready   bool
				}
			}
		}
	}
	c.kubectlJSON(t, &pods, "-n", "e2e-image", "get", "pods")
	if len(pods.Items) != len(c.Nodes) {
		t.Fatalf("%d agent pods, want %d", len(pods.Items), len(c.Nodes))
	}
	want := c.Registry + "/netdoctor/netctl@sha256:"
	for _, p := range pods.Items {
		if !strings.HasPrefix(p.Spec.Containers[0].Image, c.Registry+"/netdoctor/netctl:") {
			t.Errorf("agent image %s, want the sandbox registry's", p.Spec.Containers[0].Image)
		}
		if s := p.Status.ContainerStatuses; len(s) != 1 || !s[0].Ready || !strings.HasPrefix(s[0].ImageID, want) {
			t.Errorf("agent status %+v, want Ready with imageID %s...", s, want)
		}
	}
}

// pushTestImage pushes an image index with one image per platform holding
// only files (no netctl unless files has it).
func pushTestImage(t *testing.T, ref string, platforms []string, files map[string]string) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for n, data := range files {
		tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg})
		tw.Write([]byte(data))
	}
	tw.Close()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil },
		tarball.WithMediaType(types.OCILayer))
	if err != nil {
		t.Fatal(err)
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, p := range platforms {
		os, arch, _ := strings.Cut(p, "/")
		img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), layer)
		if err != nil {
			t.Fatal(err)
		}
		cf, _ := img.ConfigFile()
		cf = cf.DeepCopy()
		cf.OS, cf.Architecture = os, arch
		cf.Config = v1.Config{Entrypoint: []string{"/usr/local/bin/netctl"}, Env: []string{"PATH=/usr/local/bin:/usr/bin:/bin"}, User: "65532:65532"}
		if img, err = mutate.ConfigFile(img, cf); err != nil {
			t.Fatal(err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: os, Architecture: arch}}})
	}
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(r, idx); err != nil {
		t.Fatalf("pushing %s: %v", ref, err)
	}
}

// badImageCheck runs a check whose agents come from repo and expects every
// row to be an EXCEPTION naming want.
func badImageCheck(t *testing.T, c *cluster, ns, repo, want string) {
	t.Helper()
	dir := workdir(t)
	rep, r := check(t, c, dir, "--namespace", ns, "--image-repository", repo, "--pod-wait-time", "15", "--auto-clean")
	if r.Code != 1 {
		t.Errorf("exit %d, want 1\n%s", r.Code, r.Stderr)
	}
	if len(rep.Rows) == 0 {
		t.Fatal("no rows")
	}
	for _, row := range rep.Rows {
		if row.Result != resultException || !strings.Contains(row.Log, want) {
			t.Errorf("%s -> %s: %s %q, want EXCEPTION naming %q", row.SrcNode, row.DstNode, row.Result, row.Log, want)
		}
	}
	if r.Elapsed > 15*time.Second+45*time.Second {
		t.Errorf("took %s with podWaitTime 15s", r.Elapsed)
	}
}

// TestImageWithoutNetctl: an image that lacks the netctl executable gives
// EXCEPTION rows naming the container's start error.
func TestImageWithoutNetctl(t *testing.T) {
	c := sharedCluster(t, "e2edual", 4, "dual")
	pushTestImage(t, c.Registry+"/broken/netctl:"+netctlVersion(t), []string{"linux/amd64", "linux/arm64"},
		map[string]string{"etc/passwd": "nonroot:x:65532:65532::/:/sbin/nologin\n"})
	badImageCheck(t, c, "e2e-noentry", c.Registry+"/broken", `"netctl": executable file not found in $PATH`)
}

// TestImageNoMatchingPlatform: an arm64-only image on amd64 nodes fails to
// pull with "no matching platform".
func TestImageNoMatchingPlatform(t *testing.T) {
	c := sharedCluster(t, "e2edual", 4, "dual")
	pushTestImage(t, c.Registry+"/armonly/netctl:"+netctlVersion(t), []string{"linux/arm64"},
		map[string]string{"usr/local/bin/netctl": "not for this node\n"})
	badImageCheck(t, c, "e2e-arm64", c.Registry+"/armonly", "no matching platform")
}
