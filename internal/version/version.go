// Package version holds build information stamped in by the linker
// (see the Makefile: -X github.com/netdoctor/netdoctor/internal/version.Version=...).
package version

import "runtime"

// Set by -ldflags -X at build time. The defaults mark an unstamped build
// (go run, go test) so it is never mistaken for a release.
var (
	Version = "v0.0.0-dev"
	Commit  = "unknown"
)

// Info is what `netctl version` prints.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

// Get returns this binary's build information.
func Get() Info {
	return Info{
		Version:   Version,
		Commit:    Commit,
		GoVersion: runtime.Version(),
		Platform:  runtime.GOOS + "/" + runtime.GOARCH,
	}
}
