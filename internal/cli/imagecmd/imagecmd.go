// Package imagecmd is `netctl image`: build the agents' OCI image from
// netctl binaries and push it to a registry, without a container engine.
package imagecmd

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/netdoctor/netdoctor/internal/cli/clierr"
	"github.com/netdoctor/netdoctor/internal/image"
	"github.com/netdoctor/netdoctor/internal/version"
)

// NewCommand returns `netctl image` with its subcommands.
func NewCommand(streams genericiooptions.IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Build the agents' OCI image and push it to a registry (no Docker needed)",
		Long: "The agents run the image <srcImageRepository>/netctl:<version>. `netctl image build`\n" +
			"makes it from netctl binaries (this one for its own platform), `netctl image push`\n" +
			"puts it into your registry. Then run checks with --image-repository <registry/path>.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newBuildCommand(streams), newPushCommand(streams))
	return cmd
}

type buildFlags struct {
	output    string
	platforms []string
	binaries  []string
	version   string
	revision  string
}

func newBuildCommand(streams genericiooptions.IOStreams) *cobra.Command {
	f := buildFlags{}
	cmd := &cobra.Command{
		Use:   "build -o PATH [--platform linux/amd64,linux/arm64] [--binary PLATFORM=PATH]...",
		Short: "Write the netctl image as an OCI layout directory (or .tar), reproducibly",
		Long: "Writes an OCI image index with one image per platform: the static netctl binary at\n" +
			image.BinaryPath + ", user " + image.User + ", entrypoint netctl, labels\n" +
			"org.opencontainers.image.version/revision. PATH ending in .tar gives an OCI layout\n" +
			"archive, anything else a layout directory. Same binaries, same digest.\n\n" +
			"The binary for this machine's platform defaults to this netctl; for another\n" +
			"platform it defaults to _output/bin/linux/<arch>/netctl next to this one's\n" +
			"directory (`make netctl GOARCH=arm64`), or give it with --binary.",
		Example: "  netctl image build -o netctl.tar\n" +
			"  make netctl GOARCH=arm64 && netctl image build -o netctl.tar --platform linux/amd64,linux/arm64",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBuild(streams, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.output, "output", "o", "", "where to write: a directory (OCI layout) or a file ending in .tar")
	fl.StringSliceVar(&f.platforms, "platform", []string{runtime.GOOS + "/" + runtime.GOARCH}, "platforms, comma-separated (supported: "+strings.Join(image.Platforms(), ", ")+")")
	fl.StringArrayVar(&f.binaries, "binary", nil, "PLATFORM=PATH: the netctl binary for a platform (repeatable)")
	fl.StringVar(&f.version, "version", version.Version, "label org.opencontainers.image.version (default: this netctl's version)")
	fl.StringVar(&f.revision, "revision", version.Commit, "label org.opencontainers.image.revision (default: this netctl's commit)")
	_ = cmd.MarkFlagRequired("output")
	return cmd
}

func runBuild(streams genericiooptions.IOStreams, f buildFlags) error {
	if f.output == "" {
		return clierr.Usagef("-o PATH is required")
	}
	given := map[string]string{}
	for _, b := range f.binaries {
		plat, path, ok := strings.Cut(b, "=")
		if !ok || path == "" {
			return clierr.Usagef("--binary %q: want PLATFORM=PATH, e.g. linux/arm64=_output/bin/linux/arm64/netctl", b)
		}
		canon, _, err := image.ParsePlatform(plat)
		if err != nil {
			return clierr.Usagef("--binary: %w", err)
		}
		given[canon] = path
	}
	bins := map[string]string{}
	for _, p := range f.platforms {
		canon, _, err := image.ParsePlatform(p)
		if err != nil {
			return clierr.Usagef("--platform: %w", err)
		}
		if path, ok := given[canon]; ok {
			bins[canon] = path
			continue
		}
		path, err := defaultBinary(canon)
		if err != nil {
			return clierr.UsageError(err)
		}
		bins[canon] = path
	}
	for p := range given {
		if _, ok := bins[p]; !ok {
			return clierr.Usagef("--binary %s=...: platform %s is not in --platform %s", p, p, strings.Join(f.platforms, ","))
		}
	}
	opts := image.Options{Binaries: bins, Version: f.version, Revision: f.revision}
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		var sec int64
		if _, err := fmt.Sscan(s, &sec); err != nil {
			return clierr.Usagef("SOURCE_DATE_EPOCH=%q: not a number of seconds", s)
		}
		opts.Created = time.Unix(sec, 0).UTC()
	}
	idx, err := image.Build(opts)
	if err != nil {
		return clierr.UsageError(err)
	}
	if err := image.Write(idx, f.output, f.version); err != nil {
		return fmt.Errorf("writing %s: %w", f.output, err)
	}
	sum, err := image.Summarize(idx)
	if err != nil {
		return err
	}
	fmt.Fprintf(streams.ErrOut, "wrote %s\n", f.output)
	for _, p := range sum.Platforms {
		fmt.Fprintf(streams.ErrOut, "  %-14s %s  %.1f MiB compressed\n", p.Platform, p.Digest, float64(p.Compressed)/(1<<20))
	}
	fmt.Fprintln(streams.Out, sum.Digest)
	return nil
}

// defaultBinary finds netctl for platform: this executable for its own
// platform, else the make output for that architecture.
func defaultBinary(platform string) (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("finding this netctl: %w", err)
	}
	if platform == runtime.GOOS+"/"+runtime.GOARCH {
		return self, nil
	}
	arch := strings.Split(platform, "/")[1]
	dir := filepath.Dir(self)
	if filepath.Base(dir) == runtime.GOARCH {
		cand := filepath.Join(filepath.Dir(dir), arch, "netctl")
		if _, err := os.Stat(cand); err == nil {
			return cand, nil
		}
	}
	return "", fmt.Errorf("no netctl binary for %s: build one with `make netctl GOARCH=%s` or pass --binary %s=PATH", platform, arch, platform)
}

type pushFlags struct {
	input    string
	insecure bool
}

func newPushCommand(streams genericiooptions.IOStreams) *cobra.Command {
	f := pushFlags{}
	cmd := &cobra.Command{
		Use:   "push REF [-i PATH] [--insecure]",
		Short: "Push the image (every platform) to a registry and print its digest",
		Long: "Pushes the image index `netctl image build` wrote (-i; default: builds one now for\n" +
			"this platform) to REF, e.g. registry.example.com/team/netctl:" + version.Version + ".\n" +
			"Credentials come from your docker config (`docker login`, ~/.docker/config.json,\n" +
			"$DOCKER_CONFIG, credential helpers). --insecure allows plain HTTP.\n\n" +
			"This is also how to mirror the agents into an air-gapped registry: build (or copy\n" +
			"the .tar) where netctl runs, push it to the private registry; there is no separate\n" +
			"`mirror` command because the image is built locally and never pulled from ghcr.io.",
		Example: "  netctl image push registry.example.com/team/netctl:" + version.Version + " -i netctl.tar\n" +
			"  netctl check --image-repository registry.example.com/team",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return clierr.Usagef("want exactly one image reference, e.g. registry.example.com/team/netctl:%s", version.Version)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			var idx v1.ImageIndex
			if f.input == "" {
				plat := runtime.GOOS + "/" + runtime.GOARCH
				bin, err := defaultBinary(plat)
				if err != nil {
					return clierr.UsageError(err)
				}
				if idx, err = image.Build(image.Options{Binaries: map[string]string{plat: bin}, Version: version.Version, Revision: version.Commit}); err != nil {
					return clierr.UsageError(err)
				}
			} else {
				read, cleanup, err := image.Read(f.input)
				if err != nil {
					return clierr.UsageError(err)
				}
				defer cleanup()
				idx = read
			}
			d, err := image.Push(cmd.Context(), idx, args[0], image.PushOptions{Insecure: f.insecure})
			if errors.Is(err, image.ErrBadInput) {
				return clierr.UsageError(err)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(streams.ErrOut, "pushed %s\n", args[0])
			fmt.Fprintln(streams.Out, d)
			return nil
		},
	}
	cmd.Flags().StringVarP(&f.input, "input", "i", "", "image written by `netctl image build` (layout directory or .tar); default: build this netctl's image now")
	cmd.Flags().BoolVar(&f.insecure, "insecure", false, "allow plain HTTP (and unverified TLS) to the registry")
	return cmd
}
