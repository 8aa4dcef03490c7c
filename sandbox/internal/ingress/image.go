package ingress

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"runtime"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// image is the one-layer OCI image holding only the static traefik binary
// at binaryInImage (Traefik's own image adds nothing it needs here: no
// shell, no CA bundle; it talks to the API server with the service
// account's ca.crt). Fixed timestamps make the digest depend only on the
// binary.
func image(bin string) (v1.Image, error) {
	fi, err := os.Stat(bin)
	if err != nil {
		return nil, err
	}
	opener := func() (io.ReadCloser, error) {
		f, err := os.Open(bin)
		if err != nil {
			return nil, err
		}
		pr, pw := io.Pipe()
		go func() {
			defer f.Close()
			tw := tar.NewWriter(pw)
			var epoch time.Time
			for _, d := range []string{"usr/", "usr/local/", "usr/local/bin/"} {
				if err := tw.WriteHeader(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o755, ModTime: epoch}); err != nil {
					pw.CloseWithError(err)
					return
				}
			}
			hdr := &tar.Header{Name: path.Clean(binaryInImage[1:]), Typeflag: tar.TypeReg, Mode: 0o755, Size: fi.Size(), ModTime: epoch}
			if err := tw.WriteHeader(hdr); err != nil {
				pw.CloseWithError(err)
				return
			}
			if _, err := io.Copy(tw, f); err != nil {
				pw.CloseWithError(err)
				return
			}
			pw.CloseWithError(tw.Close())
		}()
		return pr, nil
	}
	// Compressed once (fast level: the layer only crosses loopback) and
	// cached for the upload.
	layer, err := tarball.LayerFromOpener(opener, tarball.WithCompressionLevel(gzip.BestSpeed), tarball.WithCompressedCaching)
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), layer)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	cf.Config = v1.Config{
		Entrypoint: []string{binaryInImage},
		Env:        []string{"PATH=/usr/local/bin:/usr/bin:/bin"},
		ExposedPorts: map[string]struct{}{
			fmt.Sprintf("%d/tcp", WebPort): {}, fmt.Sprintf("%d/tcp", PingPort): {},
		},
	}
	return mutate.ConfigFile(img, cf)
}

// PushImage pushes the image of bin to the cluster's registry as
// Image(registry) and returns the reference.
func PushImage(ctx context.Context, bin, registry string) (string, error) {
	img, err := image(bin)
	if err != nil {
		return "", fmt.Errorf("traefik image from %s: %w", bin, err)
	}
	ref := Image(registry)
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		return "", err
	}
	// Plain HTTP to the loopback registry, no proxies from the environment.
	tr := &http.Transport{Proxy: nil}
	defer tr.CloseIdleConnections()
	if err := remote.Write(r, img, remote.WithContext(ctx), remote.WithTransport(tr)); err != nil {
		return "", fmt.Errorf("pushing %s: %w", ref, err)
	}
	return ref, nil
}
