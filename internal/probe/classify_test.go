package probe

import (
	"context"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestClassifyAgentSideErrors: an error the agent hit itself is never a
// network failure; errors the network gives stay network failures.
func TestClassifyAgentSideErrors(t *testing.T) {
	wrap := func(errno syscall.Errno) error {
		return &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("socket", errno)}
	}
	cases := []struct {
		errno syscall.Errno
		want  FailureClass
	}{
		{syscall.EMFILE, ClassAgentError},
		{syscall.ENFILE, ClassAgentError},
		{syscall.ENOMEM, ClassAgentError},
		{syscall.EAFNOSUPPORT, ClassAgentError},
		{syscall.EINVAL, ClassAgentError},
		{syscall.ECONNREFUSED, ClassRefused},
		{syscall.ECONNRESET, ClassReset},
		{syscall.EHOSTUNREACH, ClassUnreachable},
		{syscall.ENETUNREACH, ClassUnreachable},
		{syscall.ENETDOWN, ClassUnreachable},
		{syscall.EPERM, ClassUnreachable},
		{syscall.EMSGSIZE, ClassMessageTooLong},
	}
	for _, c := range cases {
		class, phrase := classify(context.Background(), wrap(c.errno), time.Now())
		if class != c.want {
			t.Errorf("%v: class %q, want %q (%s)", c.errno, class, c.want, phrase)
		}
		if class.IsNetworkFailure() != (c.want != ClassAgentError) {
			t.Errorf("%v: IsNetworkFailure = %v", c.errno, class.IsNetworkFailure())
		}
		if class == ClassAgentError && (!strings.Contains(phrase, c.errno.Error()) || !strings.Contains(phrase, "not an answer from the network")) {
			t.Errorf("%v: phrase %q does not name the error and its side", c.errno, phrase)
		}
	}
	if ClassUnconfirmed.IsNetworkFailure() {
		t.Error("unconfirmed is not evidence of a network failure")
	}
}
