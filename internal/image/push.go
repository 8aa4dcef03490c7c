package image

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// PushOptions are the inputs of Push.
type PushOptions struct {
	// Insecure allows plain HTTP (and unverified TLS) to the registry.
	Insecure bool
	// Keychain resolves credentials; nil means authn.DefaultKeychain (the
	// user's docker config: ~/.docker/config.json, $DOCKER_CONFIG).
	Keychain authn.Keychain
	// Transport overrides the HTTP transport (tests).
	Transport http.RoundTripper
}

// Push uploads idx (every platform's blobs and manifests, then the index)
// to ref and returns the index digest. The tag moves only after every part
// is in the registry, so a failed push never leaves a usable tag pointing at
// half an image.
func Push(ctx context.Context, idx v1.ImageIndex, ref string, o PushOptions) (v1.Hash, error) {
	var nopts []name.Option
	if o.Insecure {
		nopts = append(nopts, name.Insecure)
	}
	r, err := name.ParseReference(ref, nopts...)
	if err != nil {
		return v1.Hash{}, bad("image reference %q: %v", ref, err)
	}
	kc := o.Keychain
	if kc == nil {
		kc = authn.DefaultKeychain
	}
	tr := o.Transport
	if tr == nil {
		t := remote.DefaultTransport.(*http.Transport).Clone()
		if o.Insecure {
			t.TLSClientConfig.InsecureSkipVerify = true //nolint:gosec // --insecure asks for exactly this
		}
		tr = t
	}
	ropts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(kc),
		remote.WithTransport(tr),
		remote.WithRetryBackoff(remote.Backoff{Duration: 200 * time.Millisecond, Factor: 2, Steps: 2}),
	}
	if err := remote.WriteIndex(r, idx, ropts...); err != nil {
		return v1.Hash{}, fmt.Errorf("pushing to %s: %s", r.Context().RegistryStr(), OneLine(err))
	}
	return idx.Digest()
}

// OneLine turns a registry or network error into one line naming the cause.
func OneLine(err error) string {
	var te *transport.Error
	if errors.As(err, &te) {
		var parts []string
		for _, d := range te.Errors {
			parts = append(parts, fmt.Sprintf("%s: %s", d.Code, d.Message))
		}
		msg := strings.Join(parts, "; ")
		switch te.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			return fmt.Sprintf("rejected (HTTP %d, check your docker login for this registry): %s", te.StatusCode, orStatus(msg, te.StatusCode))
		}
		return fmt.Sprintf("rejected (HTTP %d): %s", te.StatusCode, orStatus(msg, te.StatusCode))
	}
	var ne net.Error
	var oe *net.OpError
	if errors.As(err, &oe) || errors.As(err, &ne) {
		return "registry unreachable: " + strings.ReplaceAll(err.Error(), "\n", " ")
	}
	return strings.ReplaceAll(err.Error(), "\n", " ")
}

func orStatus(msg string, code int) string {
	if msg != "" {
		return msg
	}
	return http.StatusText(code)
}
