package image

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// RefNameAnnotation names the image in the layout's index.json.
const RefNameAnnotation = "org.opencontainers.image.ref.name"

// Write stores idx at path: an OCI image layout directory whose index.json
// lists idx, or, when path ends in ".tar", the same layout as a tar archive
// (sorted entries, fixed times). An existing path is replaced.
func Write(idx v1.ImageIndex, path, refName string) error {
	if strings.HasSuffix(path, ".tar") {
		tmp, err := os.MkdirTemp(filepath.Dir(path), ".netctl-image-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		if err := writeDir(idx, tmp, refName); err != nil {
			return err
		}
		return tarDir(tmp, path)
	}
	if err := os.RemoveAll(path); err != nil {
		return err
	}
	return writeDir(idx, path, refName)
}

func writeDir(idx v1.ImageIndex, dir, refName string) error {
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	var opts []layout.Option
	if refName != "" {
		opts = append(opts, layout.WithAnnotations(map[string]string{RefNameAnnotation: refName}))
	}
	return p.AppendIndex(idx, opts...)
}

// tarDir archives dir (its contents, not dir itself) into dst atomically.
func tarDir(dir, dst string) error {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(files)
	tmp := dst + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	tw := tar.NewWriter(f)
	for _, p := range files {
		st, err := os.Stat(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		h := &tar.Header{Name: filepath.ToSlash(rel), ModTime: Epoch, Format: tar.FormatPAX}
		if st.IsDir() {
			h.Typeflag, h.Name, h.Mode = tar.TypeDir, h.Name+"/", 0o755
		} else {
			h.Typeflag, h.Mode, h.Size = tar.TypeReg, 0o644, st.Size()
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if !st.IsDir() {
			in, err := os.Open(p)
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, in)
			in.Close()
			if err != nil {
				return err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}

// Read loads what `image build` wrote (a layout directory or .tar): the
// image index its index.json lists. cleanup removes temporary files.
func Read(path string) (idx v1.ImageIndex, cleanup func(), err error) {
	cleanup = func() {}
	st, err := os.Stat(path)
	if err != nil {
		return nil, cleanup, bad("image %s: %v", path, err)
	}
	dir := path
	if !st.IsDir() {
		tmp, err := os.MkdirTemp("", "netctl-image-")
		if err != nil {
			return nil, cleanup, err
		}
		cleanup = func() { os.RemoveAll(tmp) }
		if err := untar(path, tmp); err != nil {
			cleanup()
			return nil, func() {}, bad("image %s: not an OCI layout archive: %v", path, err)
		}
		dir = tmp
	}
	top, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		cleanup()
		return nil, func() {}, bad("image %s: not an OCI image layout: %v", path, err)
	}
	m, err := top.IndexManifest()
	if err != nil {
		cleanup()
		return nil, func() {}, bad("image %s: %v", path, err)
	}
	if len(m.Manifests) != 1 || !m.Manifests[0].MediaType.IsIndex() {
		cleanup()
		return nil, func() {}, bad("image %s: index.json must list exactly one image index (as `netctl image build` writes), it lists %d entries", path, len(m.Manifests))
	}
	idx, err = top.ImageIndex(m.Manifests[0].Digest)
	if err != nil {
		cleanup()
		return nil, func() {}, bad("image %s: %v", path, err)
	}
	return idx, cleanup, nil
}

func untar(src, dir string) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name := filepath.Clean(h.Name)
		if name == "." || strings.HasPrefix(name, "..") || filepath.IsAbs(name) {
			return fmt.Errorf("unsafe path %q in archive", h.Name)
		}
		p := filepath.Join(dir, name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			out, err := os.Create(p)
			if err != nil {
				return err
			}
			_, err = io.Copy(out, tr)
			out.Close()
			if err != nil {
				return err
			}
		}
	}
}

// Summary describes a built index: its digest and each platform's manifest
// digest and compressed size.
type Summary struct {
	Digest    v1.Hash
	Platforms []PlatformSummary
}

// PlatformSummary is one platform of a Summary.
type PlatformSummary struct {
	Platform string
	Digest   v1.Hash
	// Compressed is the sum of the compressed layer sizes plus config and
	// manifest: what a node downloads.
	Compressed int64
}

// Summarize reports idx's digests and sizes.
func Summarize(idx v1.ImageIndex) (Summary, error) {
	var s Summary
	d, err := idx.Digest()
	if err != nil {
		return s, err
	}
	s.Digest = d
	m, err := idx.IndexManifest()
	if err != nil {
		return s, err
	}
	for _, desc := range m.Manifests {
		if desc.MediaType != types.OCIManifestSchema1 && desc.MediaType != types.DockerManifestSchema2 {
			continue
		}
		img, err := idx.Image(desc.Digest)
		if err != nil {
			return s, err
		}
		mf, err := img.Manifest()
		if err != nil {
			return s, err
		}
		size := desc.Size + mf.Config.Size
		for _, l := range mf.Layers {
			size += l.Size
		}
		ps := PlatformSummary{Digest: desc.Digest, Compressed: size}
		if desc.Platform != nil {
			ps.Platform = desc.Platform.String()
		}
		s.Platforms = append(s.Platforms, ps)
	}
	return s, nil
}
