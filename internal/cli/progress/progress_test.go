package progress

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestPlainLines(t *testing.T) {
	var buf bytes.Buffer
	r := New(&buf, false)
	clock := time.Unix(0, 0)
	r.now = func() time.Time { return clock }
	for done := 1; done <= 100; done++ {
		r.Update(done, 100)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	// one line per 10% step (1%, 10%, 20%, ... 100%): 11 lines, not 100.
	if len(lines) != 11 {
		t.Fatalf("got %d lines, want 11:\n%s", len(lines), buf.String())
	}
	if lines[len(lines)-1] != "Do check... 100/100 pairs (100%)" {
		t.Errorf("last line %q", lines[len(lines)-1])
	}
	// Time passing without a new 10% step still prints, at most every 2s.
	buf.Reset()
	r = New(&buf, false)
	r.now = func() time.Time { return clock }
	r.Update(1, 1000)
	r.Update(2, 1000)
	clock = clock.Add(2 * time.Second)
	r.Update(3, 1000)
	if got := strings.Count(buf.String(), "\n"); got != 2 {
		t.Errorf("got %d lines, want 2 (first, then after 2s):\n%s", got, buf.String())
	}
}

func TestBarWritesOnlyToItsWriter(t *testing.T) {
	var buf bytes.Buffer
	r := New(&buf, true)
	for done := 0; done <= 10; done++ {
		r.Update(done, 10)
	}
	r.Finish()
	if !strings.Contains(buf.String(), "Do check...") {
		t.Errorf("bar output lacks its description: %q", buf.String())
	}
	var nilR *Reporter
	nilR.Update(1, 2) // a nil Reporter (--no-progress) is a no-op
	nilR.Finish()
}
