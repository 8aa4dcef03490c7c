package app

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/netdoctor/netdoctor/sandbox/internal/cluster"
	"github.com/netdoctor/netdoctor/sandbox/internal/controlplane"
	"github.com/netdoctor/netdoctor/sandbox/internal/plan"
	"github.com/netdoctor/netdoctor/sandbox/internal/state"
)

// Status is the `status -o json` document.
type Status struct {
	Name         string          `json:"name"`
	Phase        string          `json:"phase"`
	Slot         int             `json:"slot"`
	IPFamily     string          `json:"ipFamily"`
	Kubeconfig   string          `json:"kubeconfig"`
	APIServerURL string          `json:"apiServerURL"`
	Registry     string          `json:"registry"` // host:port of the cluster's OCI registry (plain HTTP, no auth)
	Bridge       string          `json:"bridge"`
	ClusterCIDR  []string        `json:"clusterCIDR"`
	ServiceCIDR  []string        `json:"serviceCIDR"`
	DNSIPs       []string        `json:"dnsIPs"`
	Nodes        []StatusNode    `json:"nodes"`
	Processes    []StatusProcess `json:"processes"`
	Faults       []state.Fault   `json:"faults"`
	Peers        []state.Peer    `json:"peers"`
	Overlay      string          `json:"overlay,omitempty"`     // "" (routed) or "vxlan"
	MTU          int             `json:"mtu,omitempty"`         // pod/overlay MTU; 0 = 1500
	UnderlayMTU  int             `json:"underlayMTU,omitempty"` // node links; 0 = 1500

	NetworkPolicy string        `json:"networkPolicy,omitempty"` // engine of up --network-policy
	ProxyMode     string        `json:"proxyMode"`               // kube-proxy mode: iptables or nftables
	Segment       *plan.Segment `json:"segment,omitempty"`       // second segment of up --multus

	// Real-cluster conditions (issue 8).
	PodSecurity          string               `json:"podSecurity,omitempty"`
	IsolatedControlPlane bool                 `json:"isolatedControlPlane,omitempty"`
	AgentlessNodes       []plan.AgentlessNode `json:"agentlessNodes,omitempty"`
}

// StatusNode is one node in Status.
type StatusNode struct {
	Name     string   `json:"name"`
	Netns    string   `json:"netns"`
	IPs      []string `json:"ips"`
	PodCIDRs []string `json:"podCIDRs"`
	Zone     string   `json:"zone"`
}

// StatusProcess is one daemon in Status.
type StatusProcess struct {
	Name    string `json:"name"`
	PID     int    `json:"pid"`
	Running bool   `json:"running"`
	Log     string `json:"log"`
}

func newStatusCommand(out io.Writer) *cobra.Command {
	var name, output string
	cmd := &cobra.Command{
		Use:   "status --name NAME [-o json]",
		Short: "Show a cluster's nodes, daemons, kubeconfig and active faults",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "" && output != "json" && output != "table" {
				return fmt.Errorf("%w: -o %q: must be table or json", cluster.ErrBadInput, output)
			}
			s, err := state.Load(name)
			if err != nil {
				return fmt.Errorf("%w: %w", cluster.ErrBadInput, err)
			}
			st := Status{Name: s.Name, Phase: s.Phase, Slot: s.Slot, IPFamily: s.IPFamily, Kubeconfig: s.Kubeconfig,
				APIServerURL: s.APIServerURL, Registry: s.Registry, Bridge: s.Bridge, ClusterCIDR: s.ClusterCIDR, ServiceCIDR: s.ServiceCIDR,
				DNSIPs: s.DNSIPs, Faults: s.Faults, Peers: s.Peers, NetworkPolicy: s.NetworkPolicy,
				Overlay: s.Overlay, MTU: s.MTU, UnderlayMTU: s.UnderlayMTU(),
				PodSecurity: s.PodSecurity, IsolatedControlPlane: s.IsolatedControlPlane, AgentlessNodes: s.AgentlessNodes,
				ProxyMode: s.ProxyMode, Segment: s.Segment}
			if st.ProxyMode == "" {
				st.ProxyMode = plan.ProxyIPTables
			}
			for _, n := range s.Nodes {
				st.Nodes = append(st.Nodes, StatusNode{Name: n.Name, Netns: n.Netns, IPs: n.IPs, PodCIDRs: n.PodCIDRs, Zone: n.Zone})
			}
			for _, p := range s.Processes {
				st.Processes = append(st.Processes, StatusProcess{Name: p.Name, PID: p.PID, Running: controlplane.Alive(p.PID), Log: p.Log})
			}
			if output == "json" {
				e := json.NewEncoder(out)
				e.SetIndent("", "  ")
				return e.Encode(st)
			}
			printStatus(out, st)
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "cluster name")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	cmd.MarkFlagRequired("name")
	return cmd
}

func printStatus(out io.Writer, st Status) {
	fmt.Fprintf(out, "cluster %s (%s, slot %d, %s)\nkubeconfig: %s\napi server: %s\nregistry: %s\npods: %s  services: %s  dns: %s\n\n",
		st.Name, st.Phase, st.Slot, st.IPFamily, st.Kubeconfig, st.APIServerURL, st.Registry,
		strings.Join(st.ClusterCIDR, ","), strings.Join(st.ServiceCIDR, ","), strings.Join(st.DNSIPs, ","))
	if st.Overlay != "" || st.MTU != 0 {
		mode := "routed"
		if st.Overlay != "" {
			mode = fmt.Sprintf("overlay %s (%s, VNI %d, udp %d)", st.Overlay, plan.VXLANDevice, plan.VXLANID, plan.VXLANPort)
		}
		fmt.Fprintf(out, "network: %s, pod mtu %d, underlay mtu %d\n\n", mode, st.MTU, st.UnderlayMTU)
	}
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "NODE\tNETNS\tZONE\tIPS\tPOD CIDRS")
	for _, n := range st.Nodes {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", n.Name, n.Netns, n.Zone, strings.Join(n.IPs, ","), strings.Join(n.PodCIDRs, ","))
	}
	for _, n := range st.AgentlessNodes {
		fmt.Fprintf(w, "%s\t(%s, no agent)\t%s\t%s\t%s\n", n.Name, n.Kind, n.Zone, strings.Join(n.IPs, ","), strings.Join(n.PodCIDRs, ","))
	}
	w.Flush()
	fmt.Fprintln(out)
	if st.PodSecurity != "" || st.IsolatedControlPlane {
		fmt.Fprintf(out, "pod security default: %s  isolated control plane: %v\n\n", orNone(st.PodSecurity), st.IsolatedControlPlane)
	}
	w = tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "PROCESS\tPID\tRUNNING")
	running := 0
	routers, routersRunning := 0, 0
	for _, p := range st.Processes {
		if strings.HasPrefix(p.Name, "kube-proxy/") {
			if p.Running {
				running++
			}
			continue
		}
		if strings.HasPrefix(p.Name, "kube-router/") {
			routers++
			if p.Running {
				routersRunning++
			}
			continue
		}
		fmt.Fprintf(w, "%s\t%d\t%v\n", p.Name, p.PID, p.Running)
	}
	fmt.Fprintf(w, "kube-proxy\t(%d)\t%d running\n", len(st.Nodes), running)
	if routers > 0 {
		fmt.Fprintf(w, "kube-router\t(%d)\t%d running\n", routers, routersRunning)
	}
	w.Flush()
	fmt.Fprintln(out)
	if len(st.Faults) == 0 {
		fmt.Fprintln(out, "faults: none")
	}
	for _, f := range st.Faults {
		fmt.Fprintf(out, "fault: %s\n", f.ID)
	}
	for _, p := range st.Peers {
		fmt.Fprintf(out, "peer: %s (veth %s)\n", p.Cluster, p.Veth)
	}
	if st.NetworkPolicy != "" {
		fmt.Fprintf(out, "network policy: %s\n", st.NetworkPolicy)
	}
	fmt.Fprintf(out, "kube-proxy mode: %s\n", st.ProxyMode)
	if st.Segment != nil {
		fmt.Fprintf(out, "multus: CRD network-attachment-definitions.k8s.cni.cncf.io, second segment %s (%s in every node), ranges %s\n",
			st.Segment.Bridge, plan.SegmentNodeLink, strings.Join(st.Segment.Ranges, " "))
	}
}

func orNone(s string) string {
	if s == "" {
		return "(API server default)"
	}
	return s
}
