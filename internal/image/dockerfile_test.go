package image

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDockerfileSameLayout: the Dockerfile (for Docker users) produces the
// layout `image build` does: the binary at BinaryPath, user User,
// entrypoint the binary, and a base image whose /etc/passwd has user 65532
// (distroless/static's "nonroot").
func TestDockerfileSameLayout(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var stages [][]string // instructions of the last stage
	var last []string
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "FROM ") {
			if last != nil {
				stages = append(stages, last)
			}
			last = nil
		}
		last = append(last, line)
	}
	stages = append(stages, last)
	final := stages[len(stages)-1]
	var copyDst, user string
	var entry []string
	for _, in := range final {
		f := strings.Fields(in)
		switch f[0] {
		case "FROM":
			if f[1] != "gcr.io/distroless/static-debian12" {
				t.Errorf("final base %s: the test knows distroless/static's passwd (nonroot 65532) only", f[1])
			}
		case "COPY":
			copyDst = f[len(f)-1]
		case "USER":
			user = f[1]
		case "ENTRYPOINT":
			if err := json.Unmarshal([]byte(strings.TrimPrefix(in, "ENTRYPOINT ")), &entry); err != nil {
				t.Errorf("ENTRYPOINT is not exec form: %v", err)
			}
		}
	}
	if copyDst != BinaryPath {
		t.Errorf("Dockerfile copies the binary to %q, image build to %q", copyDst, BinaryPath)
	}
	if user != User {
		t.Errorf("Dockerfile USER %q, image build %q", user, User)
	}
	if len(entry) != 1 || entry[0] != BinaryPath {
		t.Errorf("Dockerfile ENTRYPOINT %v, image build [%s]", entry, BinaryPath)
	}
	found := false
	for _, p := range RootfsPaths() {
		found = found || "/"+p == BinaryPath
	}
	if !found {
		t.Errorf("image build's layer lacks %s: %v", BinaryPath, RootfsPaths())
	}
}
