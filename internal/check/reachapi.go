package check

import (
	"context"
	"io"
	"time"

	"github.com/netdoctor/netdoctor/internal/deploy"
	"github.com/netdoctor/netdoctor/internal/kube"
)

// WaitAgents waits until every node that can run an agent has a Ready
// agent on each of networks (or until deadline) and returns the inventory
// as it stands: the entry point `netctl reach` (internal/reach) uses after
// its own deploy.Apply, so it never needs check's private cluster type.
func WaitAgents(ctx context.Context, client *kube.Client, namespace string, networks []deploy.Network, deadline time.Time, log io.Writer) (*Inventory, error) {
	c := &cluster{name: SrcCluster, client: client, networks: networks, deployed: true}
	return waitAgents(ctx, c, namespace, deadline, log)
}

// ReadySummary is the "3/4 pod-network agents ready" line of inv.
func ReadySummary(inv *Inventory, networks []deploy.Network) string {
	return readySummary(inv, networks)
}
