package netcfg

import (
	"context"
	"fmt"
	"os/exec"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/netdoctor/netdoctor/sandbox/internal/plan"
)

// IsolatedTable is the nftables table of --isolated-control-plane in every
// node namespace.
const IsolatedTable = "netdoctor_isolated"

// MasqueradeToControlPlane is the other half of --isolated-control-plane.
// The host (API server) has no route back to pod IPs, so, as on clusters
// whose control plane sits outside the pod network (the CNI's or
// ip-masq-agent's masquerade of traffic leaving the pod network), every node
// source-NATs pod traffic to the control plane (the bridge addresses) to its
// own address: pods still reach the API server (kubernetes.default, CoreDNS,
// agents), the API server never reaches pods.
func MasqueradeToControlPlane(ctx context.Context, p *plan.Plan) error {
	var rules []string
	for i, c := range p.ClusterCIDR {
		fam := "ip"
		if IsV6(c) {
			fam = "ip6"
		}
		rules = append(rules, fmt.Sprintf("    %s saddr %s %s daddr %s oifname %q masquerade", fam, c, fam, p.BridgeIPs[i], NodeLink))
	}
	conf := fmt.Sprintf("table inet %s {\n  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n%s\n  }\n}\n",
		IsolatedTable, strings.Join(rules, "\n"))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, n := range p.Nodes {
		g.Go(func() error {
			cmd := exec.CommandContext(gctx, "ip", "netns", "exec", n.Netns, "nft", "-f", "-")
			cmd.Stdin = strings.NewReader(conf)
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("node %s: nft masquerade to the control plane: %w: %s", n.Name, err, strings.TrimSpace(string(out)))
			}
			return nil
		})
	}
	return g.Wait()
}
