//go:build !linux

package probe

import "errors"

// openICMP: the ICMP probe runs in the (Linux) agent only.
func openICMP(bool) (icmpSocket, error) {
	return icmpSocket{}, errors.New("ICMP probes are only supported on Linux")
}
