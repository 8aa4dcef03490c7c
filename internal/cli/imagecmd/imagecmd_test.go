package imagecmd

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/netdoctor/netdoctor/internal/cli/clierr"
)

func run(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := NewCommand(genericiooptions.IOStreams{In: &bytes.Buffer{}, Out: &out, ErrOut: &errOut})
	cmd.SetArgs(args)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	err := cmd.Execute()
	msg := ""
	if err != nil {
		msg = clierr.Format(err)
	}
	return clierr.Code(err), msg
}

// TestBuildBadInputExit2: each bad input exits 2 with one line naming it.
func TestBuildBadInputExit2(t *testing.T) {
	out := filepath.Join(t.TempDir(), "img.tar")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"build", "-o", out, "--platform", "linux/sparc"}, `unknown platform "linux/sparc"`},
		{[]string{"build", "-o", out, "--platform", "linux/amd64", "--binary", "linux/amd64=/nonexistent/netctl"}, "/nonexistent/netctl does not exist"},
		{[]string{"build", "-o", out, "--platform", "linux/riscv64"}, "no netctl binary for linux/riscv64: build one with `make netctl GOARCH=riscv64`"},
		{[]string{"build", "-o", out, "--binary", "linux/amd64"}, "want PLATFORM=PATH"},
		{[]string{"build", "-o", out, "--platform", "linux/amd64", "--binary", "linux/arm64=/x"}, "not in --platform"},
		{[]string{"push"}, "want exactly one image reference"},
		{[]string{"push", "127.0.0.1:1/x/netctl:v1", "-i", "/nonexistent.tar"}, "/nonexistent.tar"},
	} {
		code, msg := run(t, tc.args...)
		if code != 2 || !strings.Contains(msg, tc.want) || strings.Count(msg, "\n") != 1 {
			t.Errorf("netctl image %s: exit %d %q, want exit 2 and one line naming %q", strings.Join(tc.args, " "), code, msg, tc.want)
		}
	}
}
