package app

import (
	"fmt"
	"net/netip"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/netdoctor/netdoctor/sandbox/internal/controlplane"
	"github.com/netdoctor/netdoctor/sandbox/internal/echo"
	"github.com/netdoctor/netdoctor/sandbox/internal/kubelet"
	"github.com/netdoctor/netdoctor/sandbox/internal/state"
)

func newKubeletCommand() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:    "kubelet --state DIR",
		Short:  "Run the node agent of every node of a cluster (started by up)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := state.LoadFile(filepath.Join(dir, "state.json"))
			if err != nil {
				return err
			}
			l := controlplane.NewLayout(s.Dir)
			cfg := kubelet.Config{
				Kubeconfig:    s.Kubeconfig,
				ClusterName:   s.Name,
				ClusterDNS:    s.DNSIPs,
				ClusterDomain: "cluster.local",
				Images:        s.Images,
				Registries:    registries(s),
				StateDir:      filepath.Join(s.Dir, "kubelet"),
				ServingCert:   l.PKI.KubeletServingCert,
				ServingKey:    l.PKI.KubeletServingKey,
				ClientCA:      l.PKI.CACert,
				MTU:           s.MTU,
			}
			if s.Segment != nil {
				for _, r := range s.Segment.Ranges {
					cfg.SecondaryRanges = append(cfg.SecondaryRanges, netip.MustParsePrefix(r))
				}
			}
			for _, n := range s.Nodes {
				cfg.Nodes = append(cfg.Nodes, kubelet.Node{Name: n.Name, Netns: n.Netns, IPs: n.IPs, PodCIDRs: n.PodCIDRs, Zone: n.Zone})
			}
			for _, n := range s.AgentlessNodes {
				cfg.Nodes = append(cfg.Nodes, kubelet.Node{Name: n.Name, Kind: n.Kind, IPs: n.IPs, PodCIDRs: n.PodCIDRs, Zone: n.Zone})
			}
			if err := kubelet.Run(cmd.Context(), cfg); err != nil {
				return fmt.Errorf("kubelet: %w", err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "state", "", "cluster state directory")
	cmd.MarkFlagRequired("state")
	return cmd
}

func newEchoCommand() *cobra.Command {
	var port int
	cmd := &cobra.Command{
		Use:   "echo-server --port N",
		Short: "Test server for sandbox pods: HTTP GET / and UDP echo on the same port",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return echo.Serve(cmd.Context(), port)
		},
	}
	cmd.Flags().IntVar(&port, "port", 8080, "TCP and UDP port")
	return cmd
}

func registries(s *state.State) []string {
	if s.Registry == "" {
		return nil
	}
	return []string{s.Registry}
}
