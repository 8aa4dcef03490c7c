package probecmd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/netdoctor/netdoctor/internal/cli/clierr"
	"github.com/netdoctor/netdoctor/internal/probe"
)

func runCmd(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := NewCommand(genericiooptions.IOStreams{Out: &out, ErrOut: &errOut})
	cmd.SetArgs(args)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	err := cmd.ExecuteContext(context.Background())
	return out.String() + errOut.String() + errString(err), clierr.Code(err)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	var ee *clierr.ExitError
	if errors.As(err, &ee) && ee.Err == nil {
		return ""
	}
	return err.Error()
}

func TestProbeCommand(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	open := ln.Addr().(*net.TCPAddr).Port
	closed := func() int { // a port nothing listens on
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		p := l.Addr().(*net.TCPAddr).Port
		l.Close()
		return p
	}()

	out, code := runCmd(t, "conn", "127.0.0.1", "--port", itoa(open), "-o", "json")
	var r probe.Result
	if err := json.Unmarshal([]byte(out), &r); err != nil || !r.OK || code != 0 {
		t.Errorf("conn to a listening port: code %d, %q (%v)", code, out, err)
	}
	out, code = runCmd(t, "conn", "127.0.0.1", "--port", itoa(closed))
	if code != clierr.Failed || !strings.Contains(out, "refused") {
		t.Errorf("conn to a closed port: code %d, %q; want 1 and refused", code, out)
	}
	for _, bad := range [][]string{{"tcpp", "127.0.0.1"}, {"tcp", "not-an-ip"}, {"tcp", "127.0.0.1", "--port", "0"}, {"tcp"}} {
		if out, code := runCmd(t, bad...); code != clierr.Usage {
			t.Errorf("%v: code %d (%s), want 2", bad, code, out)
		}
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }
