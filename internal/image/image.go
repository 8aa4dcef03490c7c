// Package image builds, writes, reads and pushes netctl's OCI image: the
// static netctl binary at /usr/local/bin/netctl, an /etc/passwd naming the
// non-root user 65532, nothing else. It uses go-containerregistry only (no
// container engine) and is reproducible: the same binaries and labels give
// the same digest, byte for byte.
package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Paths and identity inside the image; the Dockerfile uses the same ones
// (a test compares them).
const (
	BinaryPath = "/usr/local/bin/netctl"
	UID        = 65532
	User       = "65532:65532"
	PathEnv    = "PATH=/usr/local/bin:/usr/bin:/bin"
	// Label keys (OCI image spec annotations, used as config labels too).
	LabelVersion  = "org.opencontainers.image.version"
	LabelRevision = "org.opencontainers.image.revision"
	LabelSource   = "org.opencontainers.image.source"
	LabelTitle    = "org.opencontainers.image.title"
	// Source is the project's repository, recorded as a label.
	Source = "https://github.com/netdoctor/netdoctor"
)

// Epoch is the fixed timestamp of every file and of the image config, so
// builds are reproducible. SOURCE_DATE_EPOCH overrides it (see Options).
var Epoch = time.Unix(0, 0).UTC()

// ErrBadInput marks errors caused by the caller's input (unknown platform,
// missing or wrong binary, unreadable layout): netctl exits 2 for them.
var ErrBadInput = errors.New("bad input")

// badErr is a bad-input error whose message is only its cause.
type badErr struct{ err error }

func (b badErr) Error() string        { return b.err.Error() }
func (b badErr) Unwrap() error        { return b.err }
func (b badErr) Is(target error) bool { return target == ErrBadInput }

func bad(format string, a ...any) error { return badErr{fmt.Errorf(format, a...)} }

// machines maps the supported platforms to their ELF machine.
var machines = map[string]elf.Machine{
	"linux/amd64":   elf.EM_X86_64,
	"linux/arm64":   elf.EM_AARCH64,
	"linux/arm/v7":  elf.EM_ARM,
	"linux/ppc64le": elf.EM_PPC64,
	"linux/s390x":   elf.EM_S390,
	"linux/riscv64": elf.EM_RISCV,
}

// Platforms lists the supported platforms, sorted.
func Platforms() []string {
	var ps []string
	for p := range machines {
		ps = append(ps, p)
	}
	sort.Strings(ps)
	return ps
}

// ParsePlatform checks a platform string ("linux/arm64") and returns its
// canonical form and v1.Platform.
func ParsePlatform(s string) (string, v1.Platform, error) {
	s = strings.TrimSpace(s)
	if s == "linux/arm" {
		s = "linux/arm/v7"
	}
	if _, ok := machines[s]; !ok {
		return "", v1.Platform{}, bad("unknown platform %q (supported: %s)", s, strings.Join(Platforms(), ", "))
	}
	parts := strings.Split(s, "/")
	p := v1.Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	return s, p, nil
}

// Options are the inputs of Build.
type Options struct {
	// Binaries maps each platform ("linux/amd64") to the netctl binary for
	// it. The index lists the platforms in sorted order.
	Binaries map[string]string
	Version  string // label org.opencontainers.image.version
	Revision string // label org.opencontainers.image.revision
	// Created is the timestamp of files and config; zero means Epoch.
	Created time.Time
}

// Build makes the multi-platform image index. Every binary is checked: it
// must exist, be an ELF executable of its platform's architecture and be
// statically linked.
func Build(o Options) (v1.ImageIndex, error) {
	if len(o.Binaries) == 0 {
		return nil, bad("no platform to build")
	}
	created := o.Created
	if created.IsZero() {
		created = Epoch
	}
	var plats []string
	for p := range o.Binaries {
		plats = append(plats, p)
	}
	sort.Strings(plats)
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	var adds []mutate.IndexAddendum
	for _, name := range plats {
		canon, plat, err := ParsePlatform(name)
		if err != nil {
			return nil, err
		}
		bin := o.Binaries[name]
		if err := CheckBinary(canon, bin); err != nil {
			return nil, err
		}
		img, err := platformImage(plat, bin, o, created)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", canon, err)
		}
		p := plat
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &p}})
	}
	idx = mutate.AppendManifests(idx, adds...)
	return mutate.Annotations(idx, labels(o)).(v1.ImageIndex), nil
}

func labels(o Options) map[string]string {
	l := map[string]string{LabelTitle: "netctl", LabelSource: Source}
	if o.Version != "" {
		l[LabelVersion] = o.Version
	}
	if o.Revision != "" {
		l[LabelRevision] = o.Revision
	}
	return l
}

// CheckBinary checks that path is a static ELF executable for platform.
func CheckBinary(platform, path string) error {
	want := machines[platform]
	f, err := elf.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return bad("netctl binary for %s: %s does not exist", platform, path)
	}
	if err != nil {
		return bad("netctl binary for %s: %s is not an ELF executable: %v", platform, path, err)
	}
	defer f.Close()
	if f.Machine != want {
		return bad("netctl binary for %s: %s is built for %s, not %s", platform, path, f.Machine, want)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return bad("netctl binary for %s: %s is dynamically linked; build it with CGO_ENABLED=0 (make netctl)", platform, path)
		}
	}
	return nil
}

func platformImage(plat v1.Platform, bin string, o Options, created time.Time) (v1.Image, error) {
	data, err := os.ReadFile(bin)
	if err != nil {
		return nil, bad("reading %s: %v", bin, err)
	}
	layerTar, err := rootfsTar(data, created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressionLevel(gzip.BestCompression), tarball.WithCompressedCaching)
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History:   v1.History{Created: v1.Time{Time: created}, CreatedBy: "netctl image build", Comment: "static netctl binary, passwd/group for user 65532"},
	})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = plat.OS, plat.Architecture, plat.Variant
	cf.Created = v1.Time{Time: created}
	cf.Author = ""
	cf.Config = v1.Config{
		Entrypoint: []string{BinaryPath},
		User:       User,
		Env:        []string{PathEnv},
		WorkingDir: "/",
		Labels:     labels(o),
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, err
	}
	return mutate.Annotations(img, labels(o)).(v1.Image), nil
}

// entry is one file of the root filesystem.
type entry struct {
	name     string
	mode     int64
	uid, gid int
	dir      bool
	data     []byte
}

// RootfsPaths lists every path of the image's filesystem (directories with
// a trailing slash), sorted: what the Dockerfile must produce too.
func RootfsPaths() []string {
	var out []string
	for _, e := range rootfsEntries(nil) {
		out = append(out, e.name)
	}
	return out
}

const (
	passwd = "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	group  = "root:x:0:\nnonroot:x:65532:\n"
)

func rootfsEntries(binary []byte) []entry {
	es := []entry{
		{name: "etc/", mode: 0o755, dir: true},
		{name: "etc/group", mode: 0o644, data: []byte(group)},
		{name: "etc/passwd", mode: 0o644, data: []byte(passwd)},
		{name: "home/", mode: 0o755, dir: true},
		{name: "home/nonroot/", mode: 0o700, dir: true, uid: UID, gid: UID},
		{name: "tmp/", mode: 0o1777, dir: true},
		{name: "usr/", mode: 0o755, dir: true},
		{name: "usr/local/", mode: 0o755, dir: true},
		{name: "usr/local/bin/", mode: 0o755, dir: true},
		{name: strings.TrimPrefix(BinaryPath, "/"), mode: 0o755, data: binary},
	}
	sort.Slice(es, func(i, j int) bool { return es[i].name < es[j].name })
	return es
}

// rootfsTar renders the layer: sorted entries, fixed times and owners.
func rootfsTar(binary []byte, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range rootfsEntries(binary) {
		h := &tar.Header{Name: e.name, Mode: e.mode, Uid: e.uid, Gid: e.gid, ModTime: mtime, Format: tar.FormatPAX}
		if e.dir {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
