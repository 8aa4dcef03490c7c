package cli

import (
	"path/filepath"
	"strings"
)

// Names the binary answers to as a kubectl plugin (krew installs it as
// kubectl-netdoctor; kubectl runs kubectl_complete-netdoctor for completion).
const (
	PluginName         = "kubectl-netdoctor"
	PluginCompleteName = "kubectl_complete-netdoctor"
)

// kubectlGlobalFlags are kubectl's flags that netctl's commands understand
// too; as a plugin they may come before the subcommand
// (`kubectl netdoctor -n team --context prod check`).
var kubectlGlobalFlags = map[string]bool{"--kubeconfig": true, "--context": true, "--namespace": true, "-n": true}

// pluginArgs adapts the command line to how the binary was invoked: as
// kubectl_complete-netdoctor it answers cobra's completion protocol; as
// kubectl-netdoctor, kubectl's global flags before the subcommand move
// after it. It returns the args and the command path to show in help.
func pluginArgs(argv0 string, args []string) ([]string, string) {
	base := strings.TrimSuffix(filepath.Base(argv0), ".exe")
	switch base {
	case PluginCompleteName:
		return append([]string{"__complete"}, args...), "kubectl netdoctor"
	case PluginName:
	default:
		return args, "netctl"
	}
	var globals, rest []string
	i := 0
	for i < len(args) {
		a := args[i]
		name, _, hasValue := strings.Cut(a, "=")
		if !kubectlGlobalFlags[name] {
			break
		}
		if hasValue || i+1 >= len(args) {
			globals = append(globals, a)
			i++
			continue
		}
		globals = append(globals, a, args[i+1])
		i += 2
	}
	rest = args[i:]
	if len(globals) == 0 || len(rest) == 0 {
		return args, "kubectl netdoctor"
	}
	// The subcommand path: leading words that are not flags.
	j := 0
	for j < len(rest) && !strings.HasPrefix(rest[j], "-") {
		j++
	}
	out := append(append(append([]string{}, rest[:j]...), globals...), rest[j:]...)
	return out, "kubectl netdoctor"
}
