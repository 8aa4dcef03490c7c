package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDockerfileCopiesWhatTheBuildNeeds builds netctl from exactly the
// files the Dockerfile's build stage copies. There is no Docker engine on
// the development and CI machines, so without this a missing COPY (a new
// package outside cmd/ and internal/, an embedded file) would only show
// when someone builds the image.
func TestDockerfileCopiesWhatTheBuildNeeds(t *testing.T) {
	if testing.Short() {
		t.Skip("builds netctl: skipped in -short mode")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dir := t.TempDir()
	copied := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 || fields[0] != "COPY" || strings.HasPrefix(fields[1], "--from") {
			continue
		}
		for _, src := range fields[1 : len(fields)-1] {
			if out, err := exec.Command("cp", "-r", filepath.Join(root, src), dir+"/").CombinedOutput(); err != nil {
				t.Fatalf("copying %s: %v\n%s", src, err, out)
			}
			copied++
		}
	}
	if copied == 0 {
		t.Fatal("found no COPY lines in the Dockerfile")
	}
	cmd := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(dir, "netctl"), "./cmd/netctl")
	cmd.Dir = dir
	// Offline, from the module cache: the test checks the file set, not the network.
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=readonly", "GOPROXY=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("netctl does not build from the files the Dockerfile copies: %v\n%s", err, out)
	}
}
