package fault

import (
	"context"
	"fmt"
	"os/exec"
	"strings"

	"github.com/netdoctor/netdoctor/sandbox/internal/netcfg"
	"github.com/netdoctor/netdoctor/sandbox/internal/plan"
	"github.com/netdoctor/netdoctor/sandbox/internal/state"
)

// The chains of kube-proxy-sync-fail in NODE's iptables nat tables: a
// chain named like one of kube-proxy's per-endpoint chains (KUBE-SEP-
// prefix) that no Service uses, and a chain of another owner with a rule
// jumping to it (not hooked anywhere: it sees no packet).
const (
	heldChain   = "KUBE-SEP-NETDOCTORFAULT"
	holderChain = "NETDOCTOR-FAULT-HOLD"
	syncFailKey = "kube-proxy-sync-fail"
)

// kubeProxySyncFail makes NODE's running kube-proxy fail every sync while
// its process, healthz and metrics keep serving: the incident of another
// agent referencing one of kube-proxy's chains. kube-proxy v1.34.4 in
// iptables mode deletes, in every sync, the KUBE-SVC-/KUBE-SEP-/... chains
// of its nat table that no Service needs any more (iptables-save, then
// `-X CHAIN` in the same iptables-restore as all its other rules,
// pkg/proxy/iptables/proxier.go). The kernel refuses to delete a chain
// another rule still jumps to ("CHAIN_DEL failed (Device or resource
// busy)"), so the whole restore fails and nothing of the sync is applied:
// its rules stay as they were, a Service created meanwhile gets none on
// NODE, the failed sync is retried every sync period (30 s), and after
// twice that its healthz answers 503. Remove deletes both chains in one
// restore; kube-proxy's next sync (its retry, or any Service change)
// succeeds and applies everything.
//
// nftables mode treats a failed stale-chain delete as non-fatal (it
// retries it later and syncs the rest), so the fault needs iptables mode.
func (a *applier) kubeProxySyncFail(ctx context.Context, name string) error {
	n, err := a.node(name)
	if err != nil {
		return err
	}
	if a.st.ProxyMode == plan.ProxyNFTables {
		return bad("fault kube-proxy-sync-fail needs kube-proxy in iptables mode (up --proxy-mode iptables): in nftables mode a chain kube-proxy cannot delete does not stop its syncs")
	}
	for _, bin := range restoreBins(a.st.IPFamily) {
		in := fmt.Sprintf("*nat\n:%s - [0:0]\n:%s - [0:0]\n-A %s -j %s\nCOMMIT\n", heldChain, holderChain, holderChain, heldChain)
		if err := restoreNoflush(ctx, n.Netns, bin, in); err != nil {
			return err
		}
		a.f.Changes = append(a.f.Changes, state.Change{Netns: n.Netns, Type: syncFailKey, Node: n.Name, Value: bin})
	}
	return nil
}

// releaseHeldChain undoes kubeProxySyncFail for one family (bin is
// iptables-restore or ip6tables-restore): the holder's rule and both chains
// go in one transaction. A held chain kube-proxy already deleted (it can
// only after the holder is gone) is fine.
func releaseHeldChain(ctx context.Context, netns, bin string) error {
	save, err := netcfg.Output(ctx, "ip", "netns", "exec", netns, strings.TrimSuffix(bin, "-restore")+"-save", "-t", "nat")
	if err != nil {
		return err
	}
	in := "*nat\n"
	for _, c := range []string{holderChain, heldChain} {
		if strings.Contains(save, ":"+c+" ") {
			in += fmt.Sprintf(":%s - [0:0]\n-X %s\n", c, c)
		}
	}
	return restoreNoflush(ctx, netns, bin, in+"COMMIT\n")
}

// restoreBins are the iptables-restore commands of the cluster's families.
func restoreBins(fam string) []string {
	var out []string
	if fam != plan.IPv6 {
		out = append(out, "iptables-restore")
	}
	if fam != plan.IPv4 {
		out = append(out, "ip6tables-restore")
	}
	return out
}

// restoreNoflush feeds in to bin --noflush inside netns (one transaction).
func restoreNoflush(ctx context.Context, netns, bin, in string) error {
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", netns, bin, "--noflush")
	cmd.Stdin = strings.NewReader(in)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s in %s: %w: %s", bin, netns, err, strings.TrimSpace(string(out)))
	}
	return nil
}
