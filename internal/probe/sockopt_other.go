//go:build !linux

package probe

import "syscall"

// dontFragment is a no-op outside Linux: the agent (which runs the probes
// that look for MTU black holes) is Linux-only; other systems still build
// the CLI.
func dontFragment(string, string, syscall.RawConn) error { return nil }

func udpControl(string, string, syscall.RawConn) error { return nil }
