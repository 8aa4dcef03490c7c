package kubelet

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"golang.org/x/sys/unix"
)

// pulledImage is an image unpacked in the store: what a container runs.
type pulledImage struct {
	ref    string // as in the pod spec
	digest string // manifest digest of the platform image, "sha256:..."
	repo   string // repository without tag, for imageID
	rootfs string // unpacked, read-only by convention (containers get an overlay)
	config v1.Config
}

// imageID is what ContainerStatus.ImageID carries: repo@digest.
func (p *pulledImage) imageID() string { return p.repo + "@" + p.digest }

// imageStore pulls images over the registry API and keeps one unpacked
// root filesystem per manifest digest under dir.
type imageStore struct {
	dir string
	// registries are the only registry hosts ever contacted (the sandbox's
	// own registry); any other registry fails without a lookup or dial.
	registries map[string]bool
	platform   v1.Platform
	transport  http.RoundTripper

	mu       sync.Mutex
	inflight map[string]*sync.Mutex // per digest: one unpack at a time
}

func newImageStore(dir string, registries []string) *imageStore {
	s := &imageStore{dir: dir, registries: map[string]bool{}, inflight: map[string]*sync.Mutex{},
		platform: v1.Platform{OS: "linux", Architecture: runtime.GOARCH}}
	for _, r := range registries {
		s.registries[r] = true
	}
	// Plain HTTP to a loopback registry, no proxies from the environment.
	s.transport = &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		ResponseHeaderTimeout: 30 * time.Second,
		MaxIdleConnsPerHost:   8,
	}
	return s
}

// pullError is a failed pull with the registry's (or network's) message.
type pullError struct{ msg string }

func (e *pullError) Error() string { return e.msg }

// pull resolves ref for this platform, checks and unpacks it (once per
// digest) and returns it.
func (s *imageStore) pull(ctx context.Context, ref string) (*pulledImage, error) {
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		return nil, &pullError{fmt.Sprintf("invalid image reference %q: %v", ref, err)}
	}
	reg := r.Context().RegistryStr()
	if !s.registries[reg] {
		known := make([]string, 0, len(s.registries))
		for k := range s.registries {
			known = append(known, k)
		}
		sort.Strings(known)
		return nil, &pullError{fmt.Sprintf("failed to pull image %q: registry %s is outside the sandbox and is never contacted (the sandbox registry is %s)", ref, reg, strings.Join(known, ", "))}
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	opts := []remote.Option{remote.WithContext(ctx), remote.WithTransport(s.transport),
		remote.WithRetryBackoff(remote.Backoff{Duration: 100 * time.Millisecond, Factor: 2, Steps: 2})}
	desc, err := remote.Get(r, opts...)
	if err != nil {
		return nil, &pullError{fmt.Sprintf("failed to pull image %q: %s", ref, registryMessage(err))}
	}
	var img v1.Image
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return nil, &pullError{fmt.Sprintf("failed to pull image %q: %s", ref, registryMessage(err))}
		}
		im, err := idx.IndexManifest()
		if err != nil {
			return nil, &pullError{fmt.Sprintf("failed to pull image %q: %s", ref, registryMessage(err))}
		}
		var avail []string
		var match *v1.Descriptor
		for i, d := range im.Manifests {
			if d.Platform == nil {
				continue
			}
			avail = append(avail, d.Platform.String())
			if match == nil && d.Platform.OS == s.platform.OS && d.Platform.Architecture == s.platform.Architecture {
				match = &im.Manifests[i]
			}
		}
		if match == nil {
			return nil, &pullError{fmt.Sprintf("failed to pull image %q: no matching platform for %s in the image index (it has: %s)", ref, s.platform, strings.Join(avail, ", "))}
		}
		if img, err = idx.Image(match.Digest); err != nil {
			return nil, &pullError{fmt.Sprintf("failed to pull image %q: %s", ref, registryMessage(err))}
		}
	} else {
		if img, err = desc.Image(); err != nil {
			return nil, &pullError{fmt.Sprintf("failed to pull image %q: %s", ref, registryMessage(err))}
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, &pullError{fmt.Sprintf("failed to pull image %q: config: %s", ref, registryMessage(err))}
	}
	if cf.OS != s.platform.OS || cf.Architecture != s.platform.Architecture {
		return nil, &pullError{fmt.Sprintf("failed to pull image %q: no matching platform: the image is %s/%s, this node is %s", ref, cf.OS, cf.Architecture, s.platform)}
	}
	dg, err := img.Digest()
	if err != nil {
		return nil, &pullError{fmt.Sprintf("failed to pull image %q: %s", ref, registryMessage(err))}
	}
	if d, ok := r.(name.Digest); ok && d.DigestStr() != dg.String() && d.DigestStr() != desc.Digest.String() {
		return nil, &pullError{fmt.Sprintf("failed to pull image %q: digest mismatch: got %s", ref, dg)}
	}
	p := &pulledImage{ref: ref, digest: dg.String(), repo: r.Context().Name(), config: cf.Config}
	p.rootfs, err = s.unpack(img, dg)
	if err != nil {
		return nil, &pullError{fmt.Sprintf("failed to pull and unpack image %q: %v", ref, err)}
	}
	return p, nil
}

// registryMessage renders a registry error as the registry said it
// (code: message), or the network error.
func registryMessage(err error) string {
	var te *transport.Error
	if errors.As(err, &te) {
		var parts []string
		for _, d := range te.Errors {
			parts = append(parts, fmt.Sprintf("%s: %s", d.Code, d.Message))
		}
		if len(parts) == 0 {
			parts = append(parts, fmt.Sprintf("%d %s", te.StatusCode, http.StatusText(te.StatusCode)))
		}
		return strings.Join(parts, "; ")
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return "registry unreachable: " + oe.Error()
	}
	return err.Error()
}

// unpack extracts the image's flattened filesystem into dir/<hex>/rootfs
// once; layer blobs are verified against their digests while reading.
func (s *imageStore) unpack(img v1.Image, dg v1.Hash) (string, error) {
	s.mu.Lock()
	m, ok := s.inflight[dg.Hex]
	if !ok {
		m = &sync.Mutex{}
		s.inflight[dg.Hex] = m
	}
	s.mu.Unlock()
	m.Lock()
	defer m.Unlock()
	root := filepath.Join(s.dir, dg.Hex, "rootfs")
	if _, err := os.Stat(root); err == nil {
		return root, nil
	}
	// Read every layer fully first: a blob whose content does not match its
	// digest fails here, before anything is unpacked.
	layers, err := img.Layers()
	if err != nil {
		return "", err
	}
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			return "", err
		}
		_, err = io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil {
			return "", fmt.Errorf("layer: %w", err)
		}
	}
	tmp := root + ".tmp"
	_ = os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return "", err
	}
	rc := mutate.Extract(img)
	defer rc.Close()
	if err := untarRootfs(rc, tmp); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	if err := os.Rename(tmp, root); err != nil {
		return "", err
	}
	return root, nil
}

// untarRootfs writes a flattened image filesystem under dir, keeping
// owners and modes; no entry may leave dir.
func untarRootfs(r io.Reader, dir string) error {
	tr := tar.NewReader(r)
	type dirMeta struct {
		path  string
		mode  os.FileMode
		mtime time.Time
	}
	var dirs []dirMeta
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		rel := path.Clean("/" + h.Name)
		if rel == "/" {
			continue
		}
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		// Never follow a symlink planted by an earlier entry out of dir.
		if real, err := filepath.EvalSymlinks(filepath.Dir(p)); err != nil || !isUnder(real, []string{dir}) {
			return fmt.Errorf("entry %q escapes the root filesystem", h.Name)
		}
		mode := os.FileMode(h.Mode).Perm() | modeBits(h.Mode)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
			dirs = append(dirs, dirMeta{p, mode, h.ModTime})
		case tar.TypeReg:
			f, err := os.OpenFile(p, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			f.Close()
			if err != nil {
				return err
			}
		case tar.TypeSymlink:
			_ = os.Remove(p)
			if err := os.Symlink(h.Linkname, p); err != nil {
				return err
			}
		case tar.TypeLink:
			target := filepath.Join(dir, path.Clean("/"+h.Linkname))
			_ = os.Remove(p)
			if err := os.Link(target, p); err != nil {
				return err
			}
		default:
			continue // devices, fifos: not needed by the sandbox's images
		}
		if err := os.Lchown(p, h.Uid, h.Gid); err != nil {
			return err
		}
		if h.Typeflag != tar.TypeSymlink {
			if err := os.Chmod(p, mode); err != nil {
				return err
			}
			_ = os.Chtimes(p, h.ModTime, h.ModTime)
		}
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		_ = os.Chmod(dirs[i].path, dirs[i].mode)
		_ = os.Chtimes(dirs[i].path, dirs[i].mtime, dirs[i].mtime)
	}
	return nil
}

func modeBits(m int64) os.FileMode {
	var out os.FileMode
	if m&unix.S_ISUID != 0 {
		out |= os.ModeSetuid
	}
	if m&unix.S_ISGID != 0 {
		out |= os.ModeSetgid
	}
	if m&unix.S_ISVTX != 0 {
		out |= os.ModeSticky
	}
	return out
}
