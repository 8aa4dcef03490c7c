//go:build !linux

package probe

import (
	"errors"
	"net"
)

// routeMTU is Linux-only (the agent is); elsewhere probes use packetSize.
func routeMTU(net.IP) (int, string, error) {
	return 0, "", errors.New("route MTU lookup is Linux-only")
}
