package kubelet

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// TestTerminationMessage: FallbackToLogsOnError gives the log's last 80
// lines (at most 2048 bytes) of a failed container, nothing on success or
// with the default policy.
func TestTerminationMessage(t *testing.T) {
	log := filepath.Join(t.TempDir(), "0.log")
	var b strings.Builder
	for i := 1; i <= 100; i++ {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	b.WriteString("listen tcp :18889: bind: address already in use\n")
	if err := os.WriteFile(log, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	fallback := &corev1.Container{TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError}
	msg := terminationMessage(fallback, 1, log)
	lines := strings.Split(msg, "\n")
	if len(lines) != 80 || lines[79] != "listen tcp :18889: bind: address already in use" || lines[0] != "line 22" {
		t.Errorf("message has %d lines, first %q, last %q", len(lines), lines[0], lines[len(lines)-1])
	}
	if m := terminationMessage(fallback, 0, log); m != "" {
		t.Errorf("exit 0 gave message %q", m)
	}
	if m := terminationMessage(&corev1.Container{TerminationMessagePolicy: corev1.TerminationMessageReadFile}, 1, log); m != "" {
		t.Errorf("File policy gave message %q", m)
	}
	big := strings.Repeat("x", 5000)
	os.WriteFile(log, []byte(big+"\n"), 0o644)
	if m := terminationMessage(fallback, 1, log); len(m) != 2048 {
		t.Errorf("message of %d bytes, want 2048", len(m))
	}
}
