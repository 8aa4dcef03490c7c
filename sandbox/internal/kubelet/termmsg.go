package kubelet

import (
	"os"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Limits of the kubelet's FallbackToLogsOnError message: the log's last 80
// lines, at most 2048 bytes.
const (
	termMsgLines = 80
	termMsgBytes = 2048
)

// terminationMessage is what the kubelet puts in a terminated container's
// status message. The sandbox supports the FallbackToLogsOnError policy
// (the tail of the container's log when it failed); a message file written
// to terminationMessagePath is not read.
func terminationMessage(spec *corev1.Container, code int, logPath string) string {
	if code == 0 || spec.TerminationMessagePolicy != corev1.TerminationMessageFallbackToLogsOnError {
		return ""
	}
	b, err := os.ReadFile(logPath)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > termMsgLines {
		lines = lines[len(lines)-termMsgLines:]
	}
	msg := strings.Join(lines, "\n")
	if len(msg) > termMsgBytes {
		msg = msg[len(msg)-termMsgBytes:]
	}
	return msg
}
