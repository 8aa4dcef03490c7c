package app

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/netdoctor/netdoctor/sandbox/internal/cluster"
	"github.com/netdoctor/netdoctor/sandbox/internal/plan"
)

func newUpCommand(out, errOut io.Writer) *cobra.Command {
	o := cluster.UpOptions{}
	cmd := &cobra.Command{
		Use:   "up --name NAME --nodes N",
		Short: "Create a cluster and wait until every node is Ready and CoreDNS is available",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			self, err := os.Executable()
			if err != nil {
				return fmt.Errorf("finding own binary: %w", err)
			}
			o.Self = self
			if o.NetctlBinary != "" {
				if o.NetctlBinary, err = filepath.Abs(o.NetctlBinary); err != nil {
					return err
				}
			}
			s, err := cluster.Up(cmd.Context(), o, errOut)
			if err != nil {
				return err
			}
			fmt.Fprintln(out, s.Kubeconfig)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Name, "name", "", "cluster name (1-12 lowercase letters/digits)")
	f.IntVar(&o.Nodes, "nodes", 3, "number of nodes")
	f.StringVar(&o.IPFamily, "ip-family", plan.Dual, "ipv4, ipv6 or dual")
	f.IntVar(&o.Zones, "zones", 3, "number of zones the nodes are spread over (topology.kubernetes.io/zone)")
	f.StringVar(&o.Peer, "peer", "", "an existing sandbox cluster to connect to (node and pod ranges routed both ways)")
	f.StringVar(&o.NetctlBinary, "netctl-binary", "", "push this netctl's image to the cluster's registry as <registry>/netdoctor/netctl:<its version> (convenience for `netctl image push`)")
	f.DurationVar(&o.Timeout, "timeout", 5*time.Minute, "give up (and tear down) after this long")
	f.StringVar(&o.Overlay, "overlay", "", "pod network between nodes: none (routed, default) or vxlan (a vxlan device per node, as flannel)")
	f.IntVar(&o.MTU, "mtu", 0, "MTU of pod interfaces and the overlay device (default 1450 with --overlay vxlan, else 1500)")
	f.BoolVar(&o.KeepOnError, "keep-on-error", false, "keep a cluster that failed to come up, for inspection")
	f.StringVar(&o.PodSecurity, "pod-security", "", "privileged, baseline or restricted: cluster-wide PodSecurity admission default (enforce, audit, warn; kube-system exempt)")
	f.BoolVar(&o.IsolatedControlPlane, "isolated-control-plane", false, "the host (API server) gets no routes to pod CIDRs: pod proxy to pod IPs fails, port-forward/exec/logs work")
	f.IntVar(&o.WindowsNodes, "windows-nodes", 0, "extra Ready nodes labelled kubernetes.io/os=windows that run no Linux pod")
	f.IntVar(&o.VirtualNodes, "virtual-nodes", 0, "extra Ready virtual-kubelet nodes (taint virtual-kubelet.io/provider) that run no pod")
	f.BoolVar(&o.NetworkPolicy, "network-policy", false, "enforce NetworkPolicies: kube-router's firewall controller in every node (binary kube-router next to this one: make sandbox-kube-router)")
	f.StringVar(&o.KubeRouter, "kube-router-binary", "", "kube-router binary for --network-policy (default: kube-router next to this binary)")
	f.StringVar(&o.ProxyMode, "proxy-mode", plan.ProxyIPTables, "kube-proxy mode: iptables or nftables (ipvs: this kernel has no IPVS)")
	f.BoolVar(&o.Multus, "multus", false, "Multus model: NetworkAttachmentDefinition CRD, a second segment (bridge, eth1 in every node) and secondary pod interfaces from k8s.v1.cni.cncf.io/networks")
	cmd.MarkFlagRequired("name")
	return cmd
}

func newDownCommand(errOut io.Writer) *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "down --name NAME",
		Short: "Remove a cluster: processes, namespaces, links, routes, files",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cluster.Down(cmd.Context(), name, errOut)
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "cluster name")
	cmd.MarkFlagRequired("name")
	return cmd
}
