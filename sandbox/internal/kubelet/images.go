package kubelet

import (
	"os/exec"
	"path"
	"path/filepath"
	"strings"
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
