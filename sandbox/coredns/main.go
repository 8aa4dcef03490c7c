// Command netdoctor-coredns is CoreDNS with only the plugins the sandbox
// cluster needs. It has no forward plugin on purpose: names outside the
// cluster get SERVFAIL, so no DNS query ever leaves the sandbox.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/hosts"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/whoami"
)

// directives keeps the upstream plugin order (core/dnsserver/zdirectives.go)
// restricted to the plugins imported above.
var directives = []string{
	"ready",
	"health",
	"errors",
	"log",
	"loadbalance",
	"cache",
	"hosts",
	"kubernetes",
	"whoami",
}

func main() {
	dnsserver.Directives = directives
	coremain.Run()
}
