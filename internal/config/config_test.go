package config

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// fakeHome gives the test a HOME with ~/.kube/config and ~/.kube/dst, no
// KUBECONFIG and no in-cluster environment, so results do not depend on
// the machine running the test.
func fakeHome(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("KUBECONFIG", "")
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	if err := os.MkdirAll(filepath.Join(home, ".kube"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"config", "dst"} {
		if err := os.WriteFile(filepath.Join(home, ".kube", f), []byte("apiVersion: v1\nkind: Config\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return home
}

// loadValid runs the whole path the CLI runs: Load, Complete, Validate.
func loadValid(path string) (Config, error) {
	c, err := Load(path)
	if err != nil {
		return c, err
	}
	c.Complete()
	return c, c.Validate()
}

func TestInvalidFixtures(t *testing.T) {
	home := fakeHome(t)
	tests := map[string]string{
		"invalid-addresses.json":         "targetDNSServer: \"dns.example\" is not an IP address; give the DNS server's IP, or leave it empty for the cluster DNS\ncustomizedTargetIPList[0]: \"10.0.0.300\" is not an IP address\ncustomizedTargetPortList[1]: \"0\" is not a port number (1-65535)",
		"invalid-dst-kubeconfig.json":    "dstKubeConfig: file \"$HOME/missing-dst\" does not exist; set dstKubeConfig or --dst-kubeconfig to a kubeconfig file",
		"invalid-duplicate.json":         "mode: given more than once",
		"invalid-ipfamily.json":          "ipFamily: \"dual\" is not one of auto, ipv4, ipv6",
		"invalid-ips-without-ports.json": "customizedTargetPortList: empty, but customizedTargetIPList has 1 address(es); list the ports to check on them",
		"invalid-kubeconfig.json":        "srcKubeConfig: file \"/nonexistent/kubeconfig\" does not exist; set srcKubeConfig or --kubeconfig to a kubeconfig file",
		"invalid-many.json":              "mode: \"all\" is not one of pod, node, node-to-pod, pod-to-node\nport: \"0\" is not a port number (1-65535)\nmaxNum: -5 must be at least 1\ntargetHostToLookup: empty; protocol dns needs a name to look up\npacketSize: 20 is out of range; use 64 to 65535 (0 means 1500)",
		"invalid-mode.json":              "mode: \"pods\" is not one of pod, node, node-to-pod, pod-to-node",
		"invalid-names.json":             "namespace: \"Kube_System\" is not a valid namespace name (lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63)\nversion: \"v1 beta\" is not a valid image tag (letters, digits, '_', '.', '-'; at most 128)",
		"invalid-not-object.json":        "config must be a JSON object ({...}), found [",
		"invalid-numbers.json":           "podWaitTime: 0 must be at least 1\nmaxNum: 0 must be at least 1\ncmdTimeout: -1 must be at least 1",
		"invalid-port-name.json":         "port: \"http\" is not a port number (1-65535)",
		"invalid-port-range.json":        "port: \"99999\" is not a port number (1-65535)",
		"invalid-port-type.json":         "port: got true, want a port (\"8889\" or 8889)",
		"invalid-protocol.json":          "protocol: \"http\" is not one of tcp, udp, icmp, ping, dns",
		"invalid-syntax.json":            "config is not valid JSON: line 3, column 15: invalid character ',' looking for beginning of object key string",
		"invalid-types.json":             "maxNum: got a string \"3\", want a whole number\nautoClean: got a string \"yes\", want true or false\ncustomizedTargetIPList: got a string \"10.0.0.1\", want a list of strings ([\"10.0.0.1\"])",
		"invalid-unknown-field.json":     "unknown field \"modee\" (did you mean \"mode\"?)",
		"invalid-unknown-fields.json":    "unknown field \"MaxNum\" (did you mean \"maxNum\"?)\nunknown field \"protocl\" (did you mean \"protocol\"?)\nunknown field \"colour\" (known fields: namespace, version, mode, protocol, podWaitTime, port, maxNum, cmdTimeout, srcKubeConfig, srcImageRepository, dstKubeConfig, dstImageRepository, autoClean, targetDNSServer, targetHostToLookup, customizedTargetIPList, customizedTargetPortList, ipFamily, srcContext, dstContext, packetSize, nodeSelector, agentCPURequest, agentMemoryRequest, agentMemoryLimit, agentCPULimit, networkPolicy, agentAccess)",
	}
	files, _ := filepath.Glob("testdata/invalid-*.json")
	for _, f := range files {
		if _, ok := tests[filepath.Base(f)]; !ok {
			t.Errorf("fixture %s has no expected message in this table", f)
		}
	}
	for name, want := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := loadValid(filepath.Join("testdata", name))
			if err == nil {
				t.Fatalf("no error, want:\n%s", want)
			}
			got := strings.ReplaceAll(err.Error(), home, "$HOME")
			if got != want {
				t.Errorf("message mismatch\n got: %s\nwant: %s", got, want)
			}
		})
	}
}

func TestValidFixtures(t *testing.T) {
	home := fakeHome(t)
	tests := map[string]func(c Config) []string{
		// The earlier tool's `netctl init` output must load unchanged.
		"valid-earlier-default.json": func(c Config) []string {
			return check(
				c.Namespace == "kosmos-system", "namespace kept",
				c.Port == "8889", "port string kept",
				c.MaxNum == 3 && c.CmdTimeout == 10 && c.PodWaitTime == 30, "numbers kept",
				c.SrcKubeConfig == filepath.Join(home, ".kube/config"), "~ expanded: "+c.SrcKubeConfig,
				c.DstImageRepository == "ghcr.io/kosmos-io", "dstImageRepository defaults to src: "+c.DstImageRepository,
				c.IPFamily == "auto" && c.PacketSize == DefaultPacketSize, "new fields defaulted",
			)
		},
		"valid-empty.json": func(c Config) []string {
			want := Default()
			want.SrcKubeConfig = filepath.Join(home, ".kube/config")
			want.DstImageRepository = want.SrcImageRepository
			return check(reflect.DeepEqual(c, want), fmt.Sprintf("all defaults:\n got %+v\nwant %+v", c, want))
		},
		"valid-port-number.json": func(c Config) []string {
			return check(
				c.Port == "9000", "numeric port decoded: "+string(c.Port),
				c.Protocol == "icmp", "ping normalised to icmp: "+c.Protocol,
				reflect.DeepEqual(c.CustomizedTargetPortList, []Port{"80", "443"}), "mixed port list",
				c.SrcKubeConfig == filepath.Join(home, ".kube/config"), "$HOME expanded: "+c.SrcKubeConfig,
				c.DstKubeConfig == filepath.Join(home, ".kube/dst"), "${HOME} expanded: "+c.DstKubeConfig,
			)
		},
	}
	files, _ := filepath.Glob("testdata/valid-*.json")
	for _, f := range files {
		if _, ok := tests[filepath.Base(f)]; !ok {
			t.Errorf("fixture %s has no checks in this table", f)
		}
	}
	for name, verify := range tests {
		t.Run(name, func(t *testing.T) {
			c, err := loadValid(filepath.Join("testdata", name))
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			for _, p := range verify(c) {
				t.Error(p)
			}
		})
	}
}

// check takes (condition, description) pairs and returns the descriptions
// of the conditions that do not hold.
func check(pairs ...any) []string {
	var failed []string
	for i := 0; i < len(pairs); i += 2 {
		if !pairs[i].(bool) {
			failed = append(failed, pairs[i+1].(string))
		}
	}
	return failed
}

func TestDefaultRoundTrip(t *testing.T) {
	// What `netctl init` writes must load back to the same config and
	// carry every field of the earlier tool.
	fakeHome(t)
	b, err := json.MarshalIndent(Default(), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"namespace", "version", "mode", "protocol", "podWaitTime", "port", "maxNum", "cmdTimeout",
		"srcKubeConfig", "srcImageRepository", "dstKubeConfig", "dstImageRepository", "autoClean", "targetDNSServer",
		"targetHostToLookup", "customizedTargetIPList", "customizedTargetPortList"} {
		if _, ok := m[f]; !ok {
			t.Errorf("default file lacks field %q", f)
		}
	}
	if m["port"] != "8889" {
		t.Errorf("port encoded as %v (%T), want the string \"8889\"", m["port"], m["port"])
	}
	c, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Errorf("round trip changed the config:\n got %+v\nwant %+v", c, Default())
	}
	c.Complete()
	if err := c.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
}

func TestKubeconfigResolution(t *testing.T) {
	home := fakeHome(t)
	other := filepath.Join(home, "other")
	if err := os.WriteFile(other, []byte("apiVersion: v1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Run("single-file KUBECONFIG wins and is expanded", func(t *testing.T) {
		t.Setenv("KUBECONFIG", "~/other")
		c := Default()
		c.Complete()
		if c.SrcKubeConfig != other {
			t.Errorf("SrcKubeConfig = %q, want %q", c.SrcKubeConfig, other)
		}
		if err := c.Validate(); err != nil {
			t.Error(err)
		}
	})
	t.Run("KUBECONFIG list is left to client-go's loading rules", func(t *testing.T) {
		t.Setenv("KUBECONFIG", filepath.Join(home, "missing")+string(filepath.ListSeparator)+other)
		c := Default()
		c.Complete()
		if c.SrcKubeConfig != "" {
			t.Errorf("SrcKubeConfig = %q, want empty", c.SrcKubeConfig)
		}
		if err := c.Validate(); err != nil {
			t.Errorf("one existing file in the list should be enough: %v", err)
		}
		t.Setenv("KUBECONFIG", filepath.Join(home, "missing")+string(filepath.ListSeparator)+filepath.Join(home, "missing2"))
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "none of the files in $KUBECONFIG") {
			t.Errorf("all-missing list: got %v", err)
		}
	})
	t.Run("nothing found outside a cluster", func(t *testing.T) {
		if err := os.Remove(filepath.Join(home, ".kube", "config")); err != nil {
			t.Fatal(err)
		}
		c := Default()
		c.Complete()
		if c.SrcKubeConfig != "" {
			t.Fatalf("SrcKubeConfig = %q, want empty", c.SrcKubeConfig)
		}
		want := "srcKubeConfig: no kubeconfig found ($KUBECONFIG is unset, ~/.kube/config does not exist, not running in a cluster); set srcKubeConfig or --kubeconfig to a kubeconfig file"
		if err := c.Validate(); err == nil || err.Error() != want {
			t.Errorf("got %v, want %s", err, want)
		}
	})
}

func TestPortJSON(t *testing.T) {
	for in, want := range map[string]Port{`"8889"`: "8889", `8889`: "8889", `" 80"`: " 80"} {
		var p Port
		if err := json.Unmarshal([]byte(in), &p); err != nil || p != want {
			t.Errorf("%s: got %q, %v; want %q", in, p, err, want)
		}
	}
	if _, err := Port(" 80").Int(); err == nil {
		t.Error(`Port(" 80").Int() accepted a padded number`)
	}
	b, _ := json.Marshal(Port("443"))
	if string(b) != `"443"` {
		t.Errorf("Port encodes as %s, want \"443\"", b)
	}
}

func TestSuggest(t *testing.T) {
	names := FieldNames()
	for in, want := range map[string]string{
		"modee": "mode", "maxnum": "maxNum", "cmdTimout": "cmdTimeout", "srcKubeconfig": "srcKubeConfig",
		"customizedTargetIpList": "customizedTargetIPList", "colour": "", "timeout": "",
	} {
		if got := suggest(in, names); got != want {
			t.Errorf("suggest(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestAgentResources: agent quantities default to requests without a CPU
// limit, and a bad one names the field.
func TestAgentResources(t *testing.T) {
	d := Default()
	if d.AgentCPURequest != "50m" || d.AgentMemoryRequest != "32Mi" || d.AgentMemoryLimit != "128Mi" || d.AgentCPULimit != "" {
		t.Errorf("defaults %q %q %q %q", d.AgentCPURequest, d.AgentMemoryRequest, d.AgentMemoryLimit, d.AgentCPULimit)
	}
	d.AgentCPULimit = "lots"
	err := d.Validate()
	if err == nil || !strings.Contains(err.Error(), `agentCPULimit: "lots" is not a Kubernetes quantity`) {
		t.Errorf("Validate: %v", err)
	}
}

// TestNetworkPolicyAndAgentAccess: networkPolicy defaults to none (auto is
// opt-in until proven), agentAccess to auto, "" means the
// default, and an unknown value names the field and the allowed values.
func TestNetworkPolicyAndAgentAccess(t *testing.T) {
	d := Default()
	if d.NetworkPolicy != "auto" || d.AgentAccess != "auto" {
		t.Errorf("defaults %q %q", d.NetworkPolicy, d.AgentAccess)
	}
	d.NetworkPolicy, d.AgentAccess = "", ""
	d.fillEmpty()
	if d.NetworkPolicy != "auto" || d.AgentAccess != "auto" {
		t.Errorf("empty not filled: %q %q", d.NetworkPolicy, d.AgentAccess)
	}
	d.NetworkPolicy, d.AgentAccess = "allow", "ssh"
	err := d.Validate()
	if err == nil || !strings.Contains(err.Error(), `networkPolicy: "allow" is not one of auto, none`) ||
		!strings.Contains(err.Error(), `agentAccess: "ssh" is not one of auto, proxy, port-forward`) {
		t.Errorf("Validate: %v", err)
	}
	d.NetworkPolicy, d.AgentAccess = "none", "port-forward"
	if err := d.Validate(); err != nil && strings.Contains(err.Error(), "networkPolicy") {
		t.Errorf("Validate(none, port-forward): %v", err)
	}
}
