package app

import (
	"fmt"
	"io"
	"net"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/netdoctor/netdoctor/sandbox/internal/cluster"
	"github.com/netdoctor/netdoctor/sandbox/internal/fault"
)

// newHoldPortCommand is the foreign process of the host-port fault: it binds
// PORT on all addresses of the network namespace it runs in (one dual-stack
// [::] socket) and holds it until killed. --check only tries the bind and
// exits (0: the port was free), for tests.
func newHoldPortCommand(out io.Writer) *cobra.Command {
	var port int
	var proto string
	var check bool
	cmd := &cobra.Command{
		Use:    fault.HoldPortCommand + " --port N [--proto tcp|udp] [--check]",
		Short:  "Hold a port on all addresses (the host-port fault's process)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if port < 1 || port > 65535 || (proto != "tcp" && proto != "udp") {
				return fmt.Errorf("%w: --port 1-65535 and --proto tcp|udp", cluster.ErrBadInput)
			}
			addr := ":" + strconv.Itoa(port)
			var c io.Closer
			var l net.Listener
			var err error
			if proto == "tcp" {
				l, err = net.Listen("tcp", addr)
				c = l
			} else {
				c, err = net.ListenPacket("udp", addr)
			}
			if err != nil {
				return err
			}
			defer c.Close()
			if check {
				fmt.Fprintf(out, "%s port %d is free\n", proto, port)
				return nil
			}
			fmt.Fprintf(out, "holding %s port %d\n", proto, port)
			if l != nil {
				go func() {
					for {
						conn, err := l.Accept()
						if err != nil {
							return
						}
						conn.Close()
					}
				}()
			}
			<-cmd.Context().Done()
			return nil
		},
	}
	cmd.Flags().IntVar(&port, "port", 0, "port")
	cmd.Flags().StringVar(&proto, "proto", "tcp", "tcp or udp")
	cmd.Flags().BoolVar(&check, "check", false, "only check that the port can be bound, then exit")
	return cmd
}
