// Package browsertest runs pages in a headless Chromium (Debian's chromium
// package) for tests, through chromedp. The browser loads only what the
// test allows (127.0.0.1 or a sandbox address): background networking,
// QUIC, component updates and sync are off, host names never resolve, and
// every request the page makes is recorded so a test can assert that none
// left the allowed origins. Each browser has a fresh profile and is killed
// (by PID) when the test ends.
package browsertest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// Browser is one headless Chromium with one tab.
type Browser struct {
	Ctx context.Context

	mu       sync.Mutex
	requests []string
}

// binary finds Chromium: the real binary of Debian's package first (its
// /usr/bin/chromium is a shell wrapper), then PATH.
func binary() (string, error) {
	for _, p := range []string{"/usr/lib/chromium/chromium"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("chromium not found (Debian package chromium; .ci/run installs it)")
}

// Require returns Chromium's path, or skips the test, or fails it when
// NETDOCTOR_E2E=require (CI) says browser tests must run.
func Require(t testing.TB) string {
	t.Helper()
	p, err := binary()
	if err == nil {
		return p
	}
	if os.Getenv("NETDOCTOR_E2E") == "require" {
		t.Fatalf("browser test required (NETDOCTOR_E2E=require) but cannot run: %v", err)
	}
	t.Skip(err.Error())
	return ""
}

// New starts Chromium for t. timeout bounds everything the test does with
// it. hosts are the only addresses pages may load from (IP literals;
// 127.0.0.1 when none): every other host maps to "not found".
func New(t testing.TB, timeout time.Duration, hosts ...string) *Browser {
	t.Helper()
	if len(hosts) == 0 {
		hosts = []string{"127.0.0.1"}
	}
	rules := "MAP * ~NOTFOUND"
	for _, h := range hosts {
		rules += ", EXCLUDE " + h
	}
	bin := Require(t)
	profile := t.TempDir()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-breakpad", true),
		chromedp.Flag("disable-client-side-phishing-detection", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("no-proxy-server", true),
		chromedp.Flag("no-pings", true),
		// Nothing but the allowed addresses: no name resolves, no other host is reached.
		chromedp.Flag("host-resolver-rules", rules),
		chromedp.Flag("force-color-profile", "srgb"),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.WindowSize(1400, 1000),
		chromedp.UserDataDir(profile),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	tctx, cancelTimeout := context.WithTimeout(actx, timeout)
	ctx, cancelCtx := chromedp.NewContext(tctx, chromedp.WithLogf(t.Logf))
	b := &Browser{Ctx: ctx}
	t.Cleanup(func() {
		cancelCtx()     // closes the tab and the browser
		cancelTimeout() //
		cancelAlloc()   // kills the browser process (its PID) and removes leftovers of this profile
	})
	// Listen starts the browser (chromedp enables the network domain).
	err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			b.mu.Lock()
			b.requests = append(b.requests, e.Request.URL)
			b.mu.Unlock()
		}
	})
	if err != nil {
		t.Fatalf("starting chromium %s: %v", bin, err)
	}
	return b
}

// Requests returns every URL the page requested so far.
func (b *Browser) Requests() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.requests...)
}

// CheckRequests fails t for any request whose origin is not one of allowed
// (e.g. "http://127.0.0.1:4711"); data: and about: URLs are local.
func (b *Browser) CheckRequests(t testing.TB, allowed ...string) {
	t.Helper()
	for _, r := range b.Requests() {
		u, err := url.Parse(r)
		if err != nil {
			t.Errorf("page requested an unparsable URL %q", r)
			continue
		}
		switch u.Scheme {
		case "data", "about", "blob":
			continue
		case "file":
			if len(allowed) > 0 && allowed[0] == "file://" {
				continue
			}
		}
		origin := u.Scheme + "://" + u.Host
		ok := false
		for _, a := range allowed {
			ok = ok || origin == a
		}
		if !ok {
			t.Errorf("page requested %s: only %v are allowed", r, allowed)
		}
	}
}

// startDir is the test binary's working directory before any test
// changed it (tests may t.Chdir into a temporary directory).
var startDir, _ = os.Getwd()

// ArtifactDir is where screenshots go: $NETDOCTOR_ARTIFACTS, else
// _output/artifacts at the repository root.
func ArtifactDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("NETDOCTOR_ARTIFACTS")
	if dir == "" {
		wd := startDir
		for d := wd; ; d = filepath.Dir(d) {
			if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && strings.Contains(string(b), "module github.com/netdoctor/netdoctor\n") {
				dir = filepath.Join(d, "_output", "artifacts")
				break
			}
			if filepath.Dir(d) == d {
				dir = filepath.Join(wd, "_output", "artifacts")
				break
			}
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Screenshot writes a full-page PNG of the current page to the artifact
// directory as name.png and returns its path.
func (b *Browser) Screenshot(t testing.TB, name string) string {
	t.Helper()
	png, err := chromedp.Run(b.Ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return ""
	}
	p := filepath.Join(ArtifactDir(t), name+".png")
	if err = os.WriteFile(p, png, 0o644); err != nil {
		t.Errorf("writing %s: %v", p, err)
	}
	t.Logf("screenshot: %s", p)
	return p
}
