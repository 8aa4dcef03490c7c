// Package probecmd implements `netctl probe`: one probe, run from wherever
// netctl runs (a laptop, or inside an agent pod through `kubectl exec`). It is
// the debugging companion of `check`, and what the benchmark execs to price
// the earlier tools' one-exec-per-pair approach.
package probecmd

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/netdoctor/netdoctor/internal/cli/clierr"
	"github.com/netdoctor/netdoctor/internal/probe"
)

// Options of `netctl probe`.
type Options struct {
	Kind       string
	Address    string
	Port       int
	Name       string
	Timeout    time.Duration
	ExpectNode string
	PacketSize int
	Output     string

	target probe.Target
	genericiooptions.IOStreams
}

// NewCommand returns `netctl probe KIND ADDRESS`.
func NewCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "probe KIND ADDRESS",
		Short: "Run one probe (tcp, udp, icmp, dns, conn) from here and print its result",
		Example: "  netctl probe tcp 10.244.1.5 --port 8889\n" +
			"  netctl probe dns 10.96.0.10 --name kubernetes.default.svc.cluster.local\n" +
			"  kubectl exec -n netdoctor-system POD -- netctl probe icmp fd00::5",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 2 {
				return clierr.Usagef("netctl probe takes KIND and ADDRESS, got %d arguments", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(args, cmd.Flags().Changed("port")); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Port, "port", 8889, "port for tcp, udp and conn (dns: 53)")
	f.StringVar(&o.Name, "name", "kubernetes.default.svc.cluster.local", "name to look up (dns)")
	f.DurationVar(&o.Timeout, "timeout", 10*time.Second, "timeout of the probe")
	f.StringVar(&o.ExpectNode, "expect-node", "", "tcp/udp: the node name the answering agent must report")
	f.IntVar(&o.PacketSize, "packet-size", probe.DefaultPayloadSize, "IP packet size of tcp, udp and icmp probes")
	f.StringVarP(&o.Output, "output", "o", "text", "text or json")
	return cmd
}

// Complete turns arguments into a probe target, rejecting bad input.
// portSet says --port was given: dns defaults to 53, the flag default (8889)
// is the agent port.
func (o *Options) Complete(args []string, portSet bool) error {
	kind := probe.ParseKind(args[0])
	if !probe.Known(kind) {
		return clierr.Usagef("KIND %q is not one of tcp, udp, icmp (ping), dns, conn, udp-send", args[0])
	}
	addr, err := netip.ParseAddr(args[1])
	if err != nil {
		return clierr.Usagef("ADDRESS %q is not an IP address", args[1])
	}
	if o.Port < 1 || o.Port > 65535 {
		return clierr.Usagef("--port %d is out of range 1-65535", o.Port)
	}
	if o.Timeout <= 0 {
		return clierr.Usagef("--timeout must be positive, got %s", o.Timeout)
	}
	if o.Output != "text" && o.Output != "json" {
		return clierr.Usagef("--output %q is not one of text, json", o.Output)
	}
	port := o.Port
	if kind == probe.KindDNS && !portSet {
		port = 53
	}
	fam := probe.IPv4
	if addr.Unmap().Is6() && !addr.Is4In6() {
		fam = probe.IPv6
	}
	o.target = probe.Target{ID: "1", Kind: kind, Address: addr.String(), Port: port, Name: o.Name,
		Family: fam, ExpectNode: o.ExpectNode, PayloadSize: o.PacketSize}
	return nil
}

// Run runs the probe; exit 1 when it failed.
func (o *Options) Run(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	r := probe.Run(ctx, o.target)
	if o.Output == "json" {
		enc := json.NewEncoder(o.Out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			return err
		}
	} else {
		status := "OK"
		if !r.OK {
			status = "FAILED (" + string(r.Class) + ")"
		}
		fmt.Fprintf(o.Out, "%s %s: %s in %s", o.target.Kind, o.target.Address, status, r.Timings.Total.Round(time.Microsecond))
		if r.Reason != "" {
			fmt.Fprintf(o.Out, ": %s", r.Reason)
		}
		fmt.Fprintln(o.Out)
	}
	if !r.OK {
		return clierr.Silent(clierr.Failed)
	}
	return nil
}
