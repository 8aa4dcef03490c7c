// Package netcfg makes the kernel network changes of a sandbox cluster with
// iproute2: guard routes, the bridge, node namespaces and their routes.
// Batches (`ip -batch`) keep hundreds of changes down to a few processes.
package netcfg

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
)

// GuardMetric is the metric of the guard routes. Connected routes (metric 0)
// and the more specific node/pod routes win while the cluster exists; the
// guard stays behind them and catches everything else.
const GuardMetric = 4242

// Run runs a command and returns its error with the output.
func Run(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Output runs a command and returns its stdout.
func Output(ctx context.Context, name string, args ...string) (string, error) {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// Batch runs iproute2 commands (one per line, without the leading "ip") in
// netns ("" = host namespace). force continues past failing lines.
func Batch(ctx context.Context, netns string, lines []string, force bool) error {
	if len(lines) == 0 {
		return nil
	}
	args := []string{}
	if netns != "" {
		args = append(args, "-n", netns)
	}
	if force {
		args = append(args, "-force")
	}
	args = append(args, "-batch", "-")
	cmd := exec.CommandContext(ctx, "ip", args...)
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// BridgeBatch runs `bridge -batch` lines (fdb entries) in netns.
func BridgeBatch(ctx context.Context, netns string, lines []string) error {
	if len(lines) == 0 {
		return nil
	}
	args := []string{"-n", netns, "-batch", "-"}
	cmd := exec.CommandContext(ctx, "bridge", args...)
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("bridge %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// IsV6 reports whether an address or prefix is IPv6.
func IsV6(s string) bool { return strings.Contains(s, ":") }

// GuardLines are the batch lines adding (verb "replace") or deleting
// (verb "del") the guard routes.
func GuardLines(verb string, guards []string) []string {
	var l []string
	for _, g := range guards {
		l = append(l, fmt.Sprintf("route %s unreachable %s metric %d", verb, g, GuardMetric))
	}
	return l
}

// AddGuards installs the guards; it must run before any sandbox address exists.
func AddGuards(ctx context.Context, guards []string) error {
	return Batch(ctx, "", GuardLines("replace", guards), false)
}

// DelGuards removes the guards (missing ones are ignored).
func DelGuards(ctx context.Context, guards []string) error {
	return Batch(ctx, "", GuardLines("del", guards), true)
}

// HostRouteVia reports the output device and type of `ip route get addr` in
// the host namespace, e.g. ("ndbr0", "unicast") or ("", "unreachable").
func HostRouteVia(ctx context.Context, addr string) (dev string, kind string, err error) {
	out, err := exec.CommandContext(ctx, "ip", "-o", "route", "get", addr).CombinedOutput()
	s := strings.TrimSpace(string(out))
	if err != nil {
		if strings.Contains(s, "unreachable") || strings.Contains(s, "No route") {
			return "", "unreachable", nil
		}
		return "", "", fmt.Errorf("ip route get %s: %w: %s", addr, err, s)
	}
	f := strings.Fields(s)
	if len(f) > 0 && (f[0] == "unreachable" || f[0] == "prohibit" || f[0] == "blackhole") {
		return "", f[0], nil
	}
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "dev" {
			return f[i+1], "unicast", nil
		}
	}
	return "", "unknown", nil
}

// NetnsList returns the names of all named network namespaces.
func NetnsList() ([]string, error) {
	ents, err := os.ReadDir("/run/netns")
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing /run/netns: %w", err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out, nil
}

// Prefix turns an address into a host prefix ("a/32", "b/128").
func Prefix(addr string) string {
	a := netip.MustParseAddr(addr)
	return netip.PrefixFrom(a, a.BitLen()).String()
}

// SetSysctls writes sysctls inside netns ("" = host) in one process.
func SetSysctls(ctx context.Context, netns string, kv []string) error {
	args := []string{"-q", "-w"}
	args = append(args, kv...)
	if netns == "" {
		return Run(ctx, "sysctl", args...)
	}
	return Run(ctx, "ip", append([]string{"netns", "exec", netns, "sysctl"}, args...)...)
}

// ReadSysctl reads a host sysctl.
func ReadSysctl(key string) (string, error) {
	b, err := os.ReadFile("/proc/sys/" + strings.ReplaceAll(key, ".", "/"))
	if err != nil {
		return "", fmt.Errorf("reading sysctl %s: %w", key, err)
	}
	return strings.TrimSpace(string(b)), nil
}
