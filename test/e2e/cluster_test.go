package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// cluster is one sandbox cluster started through the netdoctor-sandbox CLI.
type cluster struct {
	Name       string
	Family     string // ipv4, ipv6, dual
	Kubeconfig string
	Registry   string // host:port of the cluster's own registry (status -o json)
	Nodes      []node
	DNSIPs     []string // kube-dns Service IPs
}

// node is what kubectl shows of a Node: the facts the expected pairs are
// computed from (never from netctl's own output).
type node struct {
	Name     string
	IPs      []netip.Addr
	PodCIDRs []netip.Prefix
}

// prefixed applies NETDOCTOR_E2E_PREFIX (a few letters) to a cluster name, so
// two runs on one machine (parallel branches, a CI clone) never share a cluster.
func prefixed(name string) string { return os.Getenv("NETDOCTOR_E2E_PREFIX") + name }

// sharedCluster returns the cluster with this name, starting it on first use.
// Tests share clusters where they can: a cold start costs tens of seconds.
func sharedCluster(t *testing.T, name string, nodes int, family string, extra ...string) *cluster {
	t.Helper()
	requireE2E(t)
	name = prefixed(name)
	for i := 0; i+1 < len(extra); i++ {
		if extra[i] == "--peer" {
			extra[i+1] = prefixed(extra[i+1])
		}
	}
	clustersMu.Lock()
	defer clustersMu.Unlock()
	if c, ok := clusters[name]; ok {
		if c.Kubeconfig == "" {
			t.Fatalf("sandbox %s failed to start for an earlier test", name)
		}
		return c
	}
	c := &cluster{Name: name, Family: family}
	args := append([]string{"up", "--name", name, "--nodes", fmt.Sprint(nodes), "--ip-family", family}, extra...)
	start := time.Now()
	if out, err := sandbox(10*time.Minute, args...); err != nil {
		// A half-started cluster is still torn down.
		clusters[name] = c
		t.Fatalf("sandbox up %s: %v\n%s", name, err, out)
	}
	t.Logf("sandbox %s (%d nodes, %s) up in %s", name, nodes, family, time.Since(start).Round(time.Millisecond))
	clusters[name] = c
	c.load(t)
	c.pushImage(t)
	return c
}

// ownCluster is a cluster only the calling test uses: started like a
// shared one and taken down when the test ends, so its slot is free for
// later tests. The machine has 16 sandbox slots and the shared clusters
// alone come close to them.
func ownCluster(t *testing.T, name string, nodes int, family string, extra ...string) *cluster {
	t.Helper()
	c := sharedCluster(t, name, nodes, family, extra...)
	t.Cleanup(func() {
		clustersMu.Lock()
		defer clustersMu.Unlock()
		c.down()
		delete(clusters, c.Name)
	})
	return c
}

// load reads the kubeconfig path from `status -o json` and the nodes and DNS
// Service from the API server.
func (c *cluster) load(t *testing.T) {
	t.Helper()
	out, err := sandbox(time.Minute, "status", "--name", c.Name, "-o", "json")
	if err != nil {
		t.Fatalf("sandbox status: %v\n%s", err, out)
	}
	var st struct {
		Kubeconfig string `json:"kubeconfig"`
		Registry   string `json:"registry"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.Kubeconfig == "" {
		t.Fatalf("sandbox status -o json has no kubeconfig (%v):\n%s", err, out)
	}
	c.Kubeconfig = st.Kubeconfig
	c.Registry = st.Registry

	var nl struct {
		Items []struct {
			Metadata struct{ Name string }
			Spec     struct{ PodCIDRs []string }
			Status   struct {
				Addresses []struct{ Type, Address string }
			}
		}
	}
	c.kubectlJSON(t, &nl, "get", "nodes")
	c.Nodes = nil
	for _, it := range nl.Items {
		n := node{Name: it.Metadata.Name}
		for _, a := range it.Status.Addresses {
			if a.Type == "InternalIP" {
				n.IPs = append(n.IPs, netip.MustParseAddr(a.Address))
			}
		}
		for _, p := range it.Spec.PodCIDRs {
			n.PodCIDRs = append(n.PodCIDRs, netip.MustParsePrefix(p))
		}
		c.Nodes = append(c.Nodes, n)
	}
	var svc struct {
		Spec struct{ ClusterIPs []string }
	}
	c.kubectlJSON(t, &svc, "-n", "kube-system", "get", "service", "kube-dns")
	c.DNSIPs = svc.Spec.ClusterIPs
}

func (c *cluster) down() {
	if out, err := sandbox(5*time.Minute, "down", "--name", c.Name); err != nil {
		fmt.Printf("sandbox down %s: %v\n%s\n", c.Name, err, out)
	}
}

func (c *cluster) nodeNames() []string {
	var ns []string
	for _, n := range c.Nodes {
		ns = append(ns, n.Name)
	}
	return ns
}

func (c *cluster) node(name string) node {
	for _, n := range c.Nodes {
		if n.Name == name {
			return n
		}
	}
	return node{}
}

// fault adds a sandbox fault and removes it when the test ends.
func (c *cluster) fault(t *testing.T, args ...string) {
	t.Helper()
	add := append([]string{"fault", "add", "--name", c.Name}, args...)
	if out, err := sandbox(time.Minute, add...); err != nil {
		t.Fatalf("sandbox %s: %v\n%s", strings.Join(add, " "), err, out)
	}
	t.Cleanup(func() { c.unfault(t, args...) })
}

func (c *cluster) unfault(t *testing.T, args ...string) {
	rm := append([]string{"fault", "remove", "--name", c.Name}, args...)
	if out, err := sandbox(time.Minute, rm...); err != nil && !strings.Contains(out, "not active") && !strings.Contains(out, "no active fault") {
		t.Errorf("sandbox %s: %v\n%s", strings.Join(rm, " "), err, out)
	}
}

func (c *cluster) kubectl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := c.kubectlErr(args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (c *cluster) kubectlErr(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "kubectl", append([]string{"--kubeconfig", c.Kubeconfig}, args...)...)
	var b bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b
	err := cmd.Run()
	return b.String(), err
}

func (c *cluster) kubectlJSON(t *testing.T, v any, args ...string) {
	t.Helper()
	out := c.kubectl(t, append(args, "-o", "json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("kubectl %s: decoding: %v", strings.Join(args, " "), err)
	}
}

// managedObjects lists the objects a netctl check labels in namespace ns
// (and ns itself when netctl labelled it); ns "" means every namespace and
// every cluster-scoped kind. The monitor's objects (part-of=
// netdoctor-monitor) are not a check's.
func (c *cluster) managedObjects(t *testing.T, ns string) []string {
	t.Helper()
	const kinds = "daemonsets,deployments,pods,secrets,serviceaccounts,services,configmaps,roles,rolebindings,networkpolicies"
	sel := "app.kubernetes.io/managed-by=netctl,app.kubernetes.io/part-of!=netdoctor-monitor"
	if ns == "" {
		out := c.kubectl(t, "get", kinds, "-A", "-l", sel, "-o", "name")
		out2 := c.kubectl(t, "get", "namespaces,clusterroles,clusterrolebindings", "-l", sel, "-o", "name")
		return strings.Fields(out + " " + out2)
	}
	out := c.kubectl(t, "-n", ns, "get", kinds, "-l", sel, "-o", "name")
	out2 := c.kubectl(t, "get", "namespaces", "-l", sel, "--field-selector", "metadata.name="+ns, "-o", "name")
	return strings.Fields(out + " " + out2)
}

func sandbox(timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, sandboxBin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String() + stderr.String(), err
	}
	return stdout.String(), nil
}
