package kubelet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// splitImage splits an image reference into repository and tag ("" when
// absent); a digest counts as the tag.
func splitImage(ref string) (repo, tag string) {
	if i := strings.Index(ref, "@"); i >= 0 {
		return ref[:i], ref[i+1:]
	}
	slash := strings.LastIndex(ref, "/")
	if i := strings.LastIndex(ref, ":"); i > slash {
		return ref[:i], ref[i+1:]
	}
	return ref, ""
}

// resolveImage finds the local binary for an image (see the package doc for
// the matching rules). ok is false for an unknown image.
func resolveImage(images map[string]string, ref string) (binary string, ok bool) {
	if b, ok := images[ref]; ok {
		return b, true
	}
	repo, tag := splitImage(ref)
	if tag == "" {
		tag = "latest"
	}
	// Repository wildcards first, then last-element patterns; the sorted
	// order makes the choice deterministic when several patterns match.
	var best string
	var bestKey string
	for key, bin := range images {
		prepo, ptag := splitImage(key)
		if ptag == "" {
			continue // exact keys were handled above
		}
		if m, _ := path.Match(ptag, tag); !m {
			continue
		}
		switch {
		case prepo == repo:
		case strings.HasPrefix(prepo, "*/") && (path.Base(repo) == prepo[2:]):
		default:
			continue
		}
		if best == "" || key < bestKey {
			best, bestKey = bin, key
		}
	}
	return best, best != ""
}

// containerCommand turns command/args into argv for an image mapped to
// binary: an empty command runs the binary; a first word naming the image or
// the binary runs the binary; other bare words come from the host PATH.
func containerCommand(binary, image string, command, args []string) ([]string, error) {
	if len(command) == 0 {
		return append([]string{binary}, args...), nil
	}
	argv := append(append([]string{}, command...), args...)
	first := argv[0]
	repo, _ := splitImage(image)
	switch {
	case first == filepath.Base(binary) || first == path.Base(repo) || first == binary:
		argv[0] = binary
	case strings.Contains(first, "/"):
		// An absolute path inside the "image": only meaningful when it exists on the host.
	default:
		p, err := exec.LookPath(first)
		if err != nil {
			return nil, err
		}
		argv[0] = p
	}
	return argv, nil
}

// imageState is a container's pulled image (nil while not pulled, and for
// images mapped to local binaries) and its pull back-off.
type imageState struct {
	pulled   *pulledImage
	nextPull time.Time
	backoff  time.Duration
	lastErr  string
}

const (
	pullBackoffInitial = 2 * time.Second
	pullBackoffMax     = 30 * time.Second
)

// ensureImage pulls c's image unless it is mapped to a local binary or
// already pulled. Called and returning with c.mu held (released during the
// pull itself). ok false: not runnable yet; look again at next.
func (w *podWorker) ensureImage(ctx context.Context, c *container) (next time.Time, ok bool) {
	if c.imageKnown || c.img.pulled != nil {
		return time.Time{}, true
	}
	now := time.Now()
	if w.k.images == nil {
		if c.pullFailedAt.IsZero() {
			c.pullFailedAt = now
		}
		if now.Sub(c.pullFailedAt) < pullBackoffAfter {
			c.waitReason = "ErrImagePull"
			c.waitMessage = fmt.Sprintf("image %q is not in the sandbox image table and the kubelet has no registry", c.spec.Image)
			return c.pullFailedAt.Add(pullBackoffAfter), false
		}
		c.waitReason = "ImagePullBackOff"
		c.waitMessage = fmt.Sprintf("Back-off pulling image %q: not in the sandbox image table", c.spec.Image)
		return time.Time{}, false
	}
	if now.Before(c.img.nextPull) {
		if now.Sub(c.pullFailedAt) >= pullBackoffAfter {
			c.waitReason = "ImagePullBackOff"
			c.waitMessage = fmt.Sprintf("Back-off pulling image %q: ErrImagePull: %s", c.spec.Image, c.img.lastErr)
			return c.img.nextPull, false
		}
		return c.pullFailedAt.Add(pullBackoffAfter), false
	}
	if c.waitReason == "" {
		c.waitReason = "ContainerCreating"
	}
	c.mu.Unlock()
	p, err := w.k.images.pull(ctx, c.spec.Image)
	c.mu.Lock()
	if err != nil {
		now = time.Now()
		c.pullFailedAt = now
		c.img.lastErr = err.Error()
		c.img.backoff = min(max(2*c.img.backoff, pullBackoffInitial), pullBackoffMax)
		c.img.nextPull = now.Add(c.img.backoff)
		c.waitReason, c.waitMessage = "ErrImagePull", err.Error()
		if ctx.Err() == nil {
			w.k.log.Printf("pod %s/%s container %s: %v", w.podNamespace, w.podName, c.spec.Name, err)
		}
		return now.Add(pullBackoffAfter), false
	}
	c.img = imageState{pulled: p}
	if c.waitReason == "ErrImagePull" || c.waitReason == "ImagePullBackOff" || c.waitReason == "ContainerCreating" {
		c.waitReason, c.waitMessage = "", ""
	}
	return time.Time{}, true
}

// withImageEnv adds the image's environment: it replaces the kubelet's
// defaults (PATH, HOME) and anything unset, never the pod spec's variables.
func (c *container) withImageEnv(env []string) []string {
	if c.img.pulled == nil {
		return env
	}
	idx := map[string]int{}
	for i, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		idx[k] = i
	}
	defaults := map[string]string{"PATH": defaultPath, "HOME": "/root"}
	for _, kv := range c.img.pulled.config.Env {
		k, _, _ := strings.Cut(kv, "=")
		i, set := idx[k]
		switch {
		case !set:
			env = append(env, kv)
		case env[i] == k+"="+defaults[k]:
			env[i] = kv
		}
	}
	return env
}

// errNotFound is a command that is not in the image: the container cannot
// start (RunContainerError), as with a real runtime.
type errNotFound struct{ error }

// commandError classifies an error from command: a missing executable is a
// start error, anything else a configuration error.
func commandError(err error) error {
	var nf errNotFound
	if errors.As(err, &nf) {
		return err
	}
	return errConfig{fmt.Errorf("command: %w", err)}
}

// command is the argv a container starts with: for a pulled image, the
// Kubernetes rules over the image's entrypoint and cmd, argv[0] resolved in
// the image's root filesystem; for a mapped image, containerCommand.
func (c *container) command(command, args, env []string) ([]string, error) {
	p := c.img.pulled
	if p == nil {
		return containerCommand(c.binary, c.spec.Image, command, args)
	}
	var argv []string
	switch {
	case len(command) > 0:
		argv = append(append(argv, command...), args...)
	case len(args) > 0:
		argv = append(append(argv, p.config.Entrypoint...), args...)
	default:
		argv = append(append(argv, p.config.Entrypoint...), p.config.Cmd...)
	}
	if len(argv) == 0 {
		return nil, errors.New("no command specified: the image has no entrypoint or cmd and the pod gives none")
	}
	resolved, err := lookPathIn(p.rootfs, argv[0], envValue(env, "PATH"))
	if err != nil {
		return nil, err
	}
	argv[0] = resolved
	return argv, nil
}

// execCommand is argv for kubectl exec and exec probes.
func (c *container) execCommand(cmd []string) ([]string, error) {
	c.mu.Lock()
	env := c.env
	c.mu.Unlock()
	return c.command(cmd, nil, env)
}

func envValue(env []string, key string) string {
	v := ""
	for _, kv := range env {
		if k, val, _ := strings.Cut(kv, "="); k == key {
			v = val
		}
	}
	return v
}

// lookPathIn finds name as the runtime would inside root: a path is taken
// as is (it must exist), a bare name is searched in PATH.
func lookPathIn(root, name, pathEnv string) (string, error) {
	isExec := func(p string) bool {
		st, err := os.Stat(filepath.Join(root, filepath.Clean("/"+p)))
		return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
	}
	if strings.Contains(name, "/") {
		if isExec(name) {
			return name, nil
		}
		return "", errNotFound{fmt.Errorf("exec: %q: no such file or directory in the image", name)}
	}
	if pathEnv == "" {
		pathEnv = defaultPath
	}
	for _, dir := range filepath.SplitList(pathEnv) {
		if dir == "" || !filepath.IsAbs(dir) {
			continue
		}
		if p := path.Join(dir, name); isExec(p) {
			return p, nil
		}
	}
	return "", errNotFound{fmt.Errorf("exec: %q: executable file not found in $PATH", name)}
}

// imageRootfs is the unpacked root filesystem the container runs in ("" for
// mapped images, which run on the host's filesystem).
func (c *container) imageRootfs() string {
	if c.img.pulled == nil {
		return ""
	}
	return c.img.pulled.rootfs
}

// applyImage sets what the image decides about the process: its user
// (unless the pod's securityContext sets one) and working directory.
func (c *container) applyImage(cmd *exec.Cmd, pod *corev1.Pod) error {
	p := c.img.pulled
	if p == nil {
		return nil
	}
	if cmd.Dir == "" {
		cmd.Dir = p.config.WorkingDir
	}
	if cmd.Dir == "" {
		cmd.Dir = "/"
	}
	uid, gid, err := lookupUser(p.rootfs, p.config.User)
	if err != nil {
		return errConfig{err}
	}
	if sc := pod.Spec.SecurityContext; sc != nil {
		if sc.RunAsUser != nil {
			uid = uint32(*sc.RunAsUser)
		}
		if sc.RunAsGroup != nil {
			gid = uint32(*sc.RunAsGroup)
		}
	}
	if sc := c.spec.SecurityContext; sc != nil {
		if sc.RunAsUser != nil {
			uid = uint32(*sc.RunAsUser)
		}
		if sc.RunAsGroup != nil {
			gid = uint32(*sc.RunAsGroup)
		}
	}
	// fsGroup and supplementalGroups join the process's groups, as a
	// container runtime does: they are what lets a non-root user read its
	// volumes (setFSGroup).
	groups := []uint32{}
	if sc := pod.Spec.SecurityContext; sc != nil {
		if sc.FSGroup != nil {
			groups = append(groups, uint32(*sc.FSGroup))
		}
		for _, g := range sc.SupplementalGroups {
			groups = append(groups, uint32(g))
		}
	}
	if uid != 0 || gid != 0 || len(groups) > 0 {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uid, Gid: gid, Groups: groups}
	}
	return nil
}

// lookupUser resolves an image's User ("", "uid", "uid:gid", "name",
// "name:group") against the image's /etc/passwd and /etc/group.
func lookupUser(root, user string) (uid, gid uint32, err error) {
	if user == "" {
		return 0, 0, nil
	}
	u, g, hasGroup := strings.Cut(user, ":")
	find := func(file, key string, field int) (uint32, bool) {
		b, err := os.ReadFile(filepath.Join(root, "etc", file))
		if err != nil {
			return 0, false
		}
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Split(line, ":")
			if len(f) > field && f[0] == key {
				n, err := strconv.ParseUint(f[field], 10, 32)
				return uint32(n), err == nil
			}
		}
		return 0, false
	}
	if n, err := strconv.ParseUint(u, 10, 32); err == nil {
		uid = uint32(n)
		// A numeric user's primary group comes from passwd when listed.
		for _, line := range strings.Split(readFile(filepath.Join(root, "etc", "passwd")), "\n") {
			f := strings.Split(line, ":")
			if len(f) > 3 && f[2] == u {
				if n, err := strconv.ParseUint(f[3], 10, 32); err == nil {
					gid = uint32(n)
				}
			}
		}
	} else {
		var ok bool
		if uid, ok = find("passwd", u, 2); !ok {
			return 0, 0, fmt.Errorf("image user %q: not in the image's /etc/passwd", u)
		}
		gid, _ = find("passwd", u, 3)
	}
	if hasGroup {
		if n, err := strconv.ParseUint(g, 10, 32); err == nil {
			gid = uint32(n)
		} else if n, ok := find("group", g, 2); ok {
			gid = n
		} else {
			return 0, 0, fmt.Errorf("image group %q: not in the image's /etc/group", g)
		}
	}
	return uid, gid, nil
}

func readFile(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}
