package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/netdoctor/netdoctor/sandbox/internal/controlplane"
	"github.com/netdoctor/netdoctor/sandbox/internal/state"
)

// RegistryBinary is Debian's docker-registry (distribution 2.8).
var RegistryBinary = "/usr/bin/docker-registry"

// registryConfig is the registry's own configuration: no auth, loopback
// only, storage on tmpfs, deletes allowed, no notifications or proxies.
func registryConfig(addr, dir string) string {
	return fmt.Sprintf(`version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: %s
  headers:
    X-Content-Type-Options: [nosniff]
`, dir, addr)
}

// startRegistry writes the registry's config and starts it; its PID goes
// into the state like every daemon's, so down stops it.
func (u *upper) startRegistry() (state.Process, error) {
	s := u.s
	if _, err := os.Stat(RegistryBinary); err != nil {
		return state.Process{}, fmt.Errorf("the sandbox registry needs %s: install the Debian package docker-registry (.ci/run does)", RegistryBinary)
	}
	if err := os.MkdirAll(s.RegistryDir, 0o700); err != nil {
		return state.Process{}, fmt.Errorf("creating registry storage: %w", err)
	}
	cfg := filepath.Join(s.Dir, "registry.yml")
	if err := os.WriteFile(cfg, []byte(registryConfig(s.Registry, s.RegistryDir)), 0o600); err != nil {
		return state.Process{}, err
	}
	return u.start("registry", "", []string{RegistryBinary, "serve", cfg})
}

// waitRegistry waits for the registry's API, then pushes --netctl-binary's
// image when asked to.
func (u *upper) waitRegistry(ctx context.Context, p state.Process) error {
	url := "http://" + u.s.Registry + "/v2/"
	if err := controlplane.WaitFor(ctx, "registry "+url, 100*time.Millisecond, func(ctx context.Context) error {
		if err := controlplane.CheckAlive(p); err != nil {
			return err
		}
		return httpOK(ctx, url)
	}); err != nil {
		if errors.Is(err, controlplane.ErrExited) {
			return fmt.Errorf("%w: %s", err, tail(p.Log))
		}
		return err
	}
	u.logf("registry ready at %s (no auth, storage %s)", u.s.Registry, u.s.RegistryDir)
	if u.o.NetctlBinary == "" {
		return nil
	}
	ref, err := PushNetctl(ctx, u.o.NetctlBinary, u.s.Registry)
	if err != nil {
		return err
	}
	u.logf("pushed %s's image as %s", u.o.NetctlBinary, ref)
	return nil
}

// PushNetctl pushes the image of a netctl binary (built by that binary:
// `netctl image push`) to registry as netdoctor/netctl:<its version> and
// returns the reference.
func PushNetctl(ctx context.Context, netctl, registry string) (string, error) {
	out, err := exec.CommandContext(ctx, netctl, "version", "-o", "json").Output()
	if err != nil {
		return "", fmt.Errorf("%s version: %w", netctl, err)
	}
	var v struct {
		Version string `json:"version"`
	}
	if err := json.Unmarshal(out, &v); err != nil || v.Version == "" {
		return "", fmt.Errorf("%s version -o json: no version in %q", netctl, out)
	}
	ref := registry + "/netdoctor/netctl:" + v.Version
	cmd := exec.CommandContext(ctx, netctl, "image", "push", "--insecure", ref)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("netctl image push %s: %w: %s", ref, err, strings.TrimSpace(stderr.String()))
	}
	return ref, nil
}
