package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/yaml"
)

func TestPluginArgs(t *testing.T) {
	for _, tc := range []struct {
		argv0 string
		args  []string
		want  string
		use   string
	}{
		{"/usr/local/bin/netctl", []string{"-n", "x", "check"}, "-n x check", "netctl"},
		{"/home/u/.krew/bin/kubectl-netdoctor", []string{"check", "-n", "x"}, "check -n x", "kubectl netdoctor"},
		{"kubectl-netdoctor", []string{"-n", "team", "--context=prod", "--kubeconfig", "/k", "check", "--mode", "node"},
			"check -n team --context=prod --kubeconfig /k --mode node", "kubectl netdoctor"},
		{"kubectl-netdoctor", []string{"--namespace", "team", "monitor", "status"}, "monitor status --namespace team", "kubectl netdoctor"},
		{"kubectl_complete-netdoctor", []string{"ch"}, "__complete ch", "kubectl netdoctor"},
	} {
		got, use := pluginArgs(tc.argv0, tc.args)
		if strings.Join(got, " ") != tc.want || use != tc.use {
			t.Errorf("%s %v: %v (%s), want %s (%s)", tc.argv0, tc.args, got, use, tc.want, tc.use)
		}
	}
}

func runCLI(t *testing.T, use string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := runAs(context.Background(), args, use, genericiooptions.IOStreams{In: &bytes.Buffer{}, Out: &out, ErrOut: &errOut}, DefaultDeps())
	return code, out.String(), errOut.String()
}

// TestCompletion: netctl completion bash|zsh|fish, and the kubectl plugin
// completion protocol (kubectl_complete-netdoctor answers __complete).
func TestCompletion(t *testing.T) {
	for shell, want := range map[string]string{"bash": "__start_netctl", "zsh": "#compdef netctl", "fish": "complete -c netctl"} {
		code, out, errOut := runCLI(t, "netctl", "completion", shell)
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("completion %s: exit %d, output lacks %q (%d bytes; %s)", shell, code, want, len(out), errOut)
		}
	}
	args, use := pluginArgs("kubectl_complete-netdoctor", []string{"ima"})
	code, out, _ := runCLI(t, use, args...)
	if code != 0 || !strings.Contains(out, "image") || !strings.Contains(out, ":4") {
		t.Errorf("kubectl_complete-netdoctor ima: exit %d %q, want the image command and a directive", code, out)
	}
	args, use = pluginArgs("kubectl-netdoctor", []string{"--help"})
	code, out, _ = runCLI(t, use, args...)
	if code != 0 || !strings.Contains(out, "kubectl netdoctor [command]") {
		t.Errorf("kubectl-netdoctor --help: exit %d, usage does not say `kubectl netdoctor`:\n%s", code, out)
	}
}

// krew's Plugin (apiVersion krew.googlecontainertools.github.com/v1alpha2):
// the fields krew's validation reads; unknown fields are rejected.
type krewPlugin struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Version          string `json:"version"`
		ShortDescription string `json:"shortDescription"`
		Description      string `json:"description"`
		Caveats          string `json:"caveats"`
		Homepage         string `json:"homepage"`
		Platforms        []struct {
			Selector struct {
				MatchLabels map[string]string `json:"matchLabels"`
			} `json:"selector"`
			URI    string `json:"uri"`
			Sha256 string `json:"sha256"`
			Files  []struct {
				From string `json:"from"`
				To   string `json:"to"`
			} `json:"files"`
			Bin string `json:"bin"`
		} `json:"platforms"`
	} `json:"spec"`
}

func TestKrewManifest(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "plugins", "netdoctor.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var p krewPlugin
	if err := yaml.UnmarshalStrict(b, &p); err != nil {
		t.Fatalf("plugins/netdoctor.yaml: %v", err)
	}
	semver := regexp.MustCompile(`^v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$`)
	name := regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	hex := regexp.MustCompile(`^[0-9a-f]{64}$`)
	switch {
	case p.APIVersion != "krew.googlecontainertools.github.com/v1alpha2":
		t.Errorf("apiVersion %q", p.APIVersion)
	case p.Kind != "Plugin":
		t.Errorf("kind %q", p.Kind)
	case !name.MatchString(p.Metadata.Name) || p.Metadata.Name != strings.TrimPrefix(PluginName, "kubectl-"):
		t.Errorf("metadata.name %q, want %q", p.Metadata.Name, strings.TrimPrefix(PluginName, "kubectl-"))
	case !semver.MatchString(p.Spec.Version):
		t.Errorf("spec.version %q is not v-prefixed semver", p.Spec.Version)
	case p.Spec.ShortDescription == "" || len(p.Spec.ShortDescription) > 80:
		t.Errorf("spec.shortDescription %q: required, at most 80 characters", p.Spec.ShortDescription)
	case !strings.HasPrefix(p.Spec.Homepage, "https://"):
		t.Errorf("spec.homepage %q", p.Spec.Homepage)
	case len(p.Spec.Platforms) == 0:
		t.Fatal("no platforms")
	}
	seen := map[string]bool{}
	for i, pl := range p.Spec.Platforms {
		os, arch := pl.Selector.MatchLabels["os"], pl.Selector.MatchLabels["arch"]
		if os == "" || arch == "" || len(pl.Selector.MatchLabels) != 2 || seen[os+"/"+arch] {
			t.Errorf("platform %d: selector %v: want distinct os and arch", i, pl.Selector.MatchLabels)
		}
		seen[os+"/"+arch] = true
		if !strings.HasPrefix(pl.URI, "https://") || !strings.Contains(pl.URI, p.Spec.Version) || !strings.Contains(pl.URI, os+"_"+arch) {
			t.Errorf("platform %s/%s: uri %q: want https, the version and the platform", os, arch, pl.URI)
		}
		if !hex.MatchString(pl.Sha256) {
			t.Errorf("platform %s/%s: sha256 %q is not 64 lowercase hex digits", os, arch, pl.Sha256)
		}
		if pl.Bin != PluginName {
			t.Errorf("platform %s/%s: bin %q, want %q (argv[0] makes it a plugin)", os, arch, pl.Bin, PluginName)
		}
		installed := false
		for _, f := range pl.Files {
			if f.From == "" || f.To == "" {
				t.Errorf("platform %s/%s: file %+v needs from and to", os, arch, f)
			}
			installed = installed || f.To == pl.Bin
		}
		if !installed {
			t.Errorf("platform %s/%s: no file is installed as bin %q", os, arch, pl.Bin)
		}
	}
}
