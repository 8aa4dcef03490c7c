package reach

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/netdoctor/netdoctor/internal/agent"
	"github.com/netdoctor/netdoctor/internal/deploy"
	"github.com/netdoctor/netdoctor/internal/inventory"
	"github.com/netdoctor/netdoctor/internal/kube"
	"github.com/netdoctor/netdoctor/internal/load"
	"github.com/netdoctor/netdoctor/internal/plan"
	"github.com/netdoctor/netdoctor/internal/report"
)

// Options of one `netctl reach` run.
type Options struct {
	Kubeconfig, Context string
	Namespace           string
	Image               string // full agent image reference
	Port                int    // agent data port
	PodWait             time.Duration
	AutoClean           bool
	Spec                Spec
	// AddressWait bounds waiting for LB and Ingress addresses and for the
	// Services' endpoints.
	AddressWait time.Duration
	// DNSName is the name the dns path looks up.
	DNSName string
	Log     io.Writer
}

// Report is what a run measured and judged.
type Report struct {
	Started     time.Time
	Duration    time.Duration
	Rounds      int
	Spec        Spec
	Rows        []Row
	Findings    []report.Finding
	Notes       []string
	Interrupted bool
}

// cleanTimeout bounds the automatic clean.
const cleanTimeout = 90 * time.Second

// settle is how long kube-proxy (and LB/ingress controllers) get to
// program freshly created Services before the first request.
var settle = 3 * time.Second

// Run deploys the agents and Services, runs the rounds and judges. An
// error with a nil report is bad input or a setup problem (exit 2); a
// *FieldError names the field.
func Run(ctx context.Context, o Options) (*Report, error) {
	log := o.Log
	if log == nil {
		log = io.Discard
	}
	client, err := kube.New(ctx, plan.SrcCluster, kube.Options{Kubeconfig: o.Kubeconfig, Context: o.Context, Hint: "--kubeconfig"})
	if err != nil {
		return nil, err
	}
	var dyn dynamic.Interface
	if client.Config != nil {
		if dyn, err = dynamic.NewForConfig(client.Config); err != nil {
			return nil, err
		}
	}
	return run(ctx, o, client, dyn, log)
}

// run is Run once the clients exist (tests enter here with fake clients;
// dyn may be nil: no Gateway path).
func run(ctx context.Context, o Options, client *kube.Client, dyn dynamic.Interface, log io.Writer) (*Report, error) {
	rep := &Report{Started: time.Now(), Spec: o.Spec, Notes: append([]string(nil), o.Spec.Notes...)}

	// Before anything is created: which paths can the cluster serve, and
	// may the user create and read what they need?
	caps := discoverCaps(ctx, client.Clientset, dyn)
	paths, notes, err := resolvePaths(o.Spec, caps)
	if err != nil {
		return nil, err
	}
	rep.Notes = append(rep.Notes, notes...)
	if err := deploy.Preflight(ctx, client, o.Namespace, preflightNeeds(paths, o.Spec)...); err != nil {
		return nil, err
	}
	networks := []deploy.Network{deploy.PodNetwork}
	if paths[PathLocal] {
		networks = append(networks, deploy.HostNetwork)
	}
	if o.AutoClean {
		defer func() {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanTimeout)
			defer cancel()
			if err := deploy.Clean(cctx, client, deploy.CleanScope{Namespace: o.Namespace}, log); err != nil {
				fmt.Fprintf(log, "autoClean failed: %v; run `netctl clean`\n", err)
			}
		}()
	}
	applied, err := deploy.Apply(ctx, client, deploy.Plan{Namespace: o.Namespace, Image: o.Image, Port: o.Port, Networks: networks, Resources: deploy.DefaultResources()}, log)
	if err != nil {
		return nil, err
	}
	if paths[PathMultus] && o.Spec.MultusNetworks != "" {
		if err := annotateAgents(ctx, client, o.Namespace, o.Spec.MultusNetworks, log); err != nil {
			return nil, err
		}
	}
	inv, err := inventory.Wait(ctx, &inventory.Cluster{Name: plan.SrcCluster, Client: client, Networks: networks}, o.Namespace, time.Now().Add(o.PodWait), log)
	if err != nil {
		return interrupted(rep, ctx, err)
	}
	fmt.Fprintf(log, "ready: %s\n", inv.ReadySummary(networks))

	ds, err := client.Clientset.AppsV1().DaemonSets(o.Namespace).Get(ctx, deploy.DaemonSetName(deploy.PodNetwork), metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("reading DaemonSet %s/%s: %w", o.Namespace, deploy.DaemonSetName(deploy.PodNetwork), err)
	}
	own := owner{Name: ds.Name, UID: string(ds.UID)}
	v, err := buildView(ctx, client, dyn, o, paths, caps, inv, own, log)
	if err != nil {
		return interrupted(rep, ctx, err)
	}
	select {
	case <-ctx.Done():
		return interrupted(rep, ctx, ctx.Err())
	case <-time.After(settle):
	}

	rows := Plan(paths, v)
	if o.Spec.FromHere {
		rows = append(rows, PlanHere(paths, v, localIPToward)...)
	}
	if len(rows) == 0 {
		return nil, errors.New("nothing to run: no agent and no address of the asked families")
	}
	acc := &access{client: client, namespace: o.Namespace, apiPort: agent.APIPortFor(o.Port), token: applied.Token, log: log}
	tallies := map[string]*tally{}
	for _, r := range rows {
		tallies[r.ID] = newTally()
	}
	for round := 1; round <= o.Spec.Rounds; round++ {
		if round > 1 && o.Spec.Interval > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(o.Spec.Interval):
			}
		}
		if ctx.Err() != nil {
			break
		}
		start := time.Now()
		runRound(ctx, acc, o, rows, tallies)
		rep.Rounds = round
		fmt.Fprintf(log, "round %d/%d: %d rows in %s\n", round, o.Spec.Rounds, len(rows), time.Since(start).Round(time.Millisecond))
	}
	for _, p := range rows {
		rep.Rows = append(rep.Rows, Judge(p, tallies[p.ID].measured(), o.Spec.Expect))
	}
	sortRows(rep.Rows)
	rep.Findings = Findings(rep.Rows)
	rep.Duration = time.Since(rep.Started)
	if ctx.Err() != nil {
		rep.Interrupted = true
		return rep, ctx.Err()
	}
	if !o.AutoClean {
		fmt.Fprintf(log, "agents and Services stay in namespace %s; `netctl clean` removes them\n", o.Namespace)
	}
	return rep, nil
}

func interrupted(rep *Report, ctx context.Context, err error) (*Report, error) {
	if ctx.Err() != nil {
		rep.Interrupted = true
		rep.Duration = time.Since(rep.Started)
		return rep, ctx.Err()
	}
	return nil, err
}

// annotateAgents gives the pod-network agents' template the Multus
// networks annotation (a rollout; WaitAgents then waits for the new pods).
func annotateAgents(ctx context.Context, client *kube.Client, ns, networks string, log io.Writer) error {
	patch, _ := json.Marshal(map[string]any{"spec": map[string]any{"template": map[string]any{"metadata": map[string]any{
		"annotations": map[string]string{MultusNetworksAnnotation: networks}}}}})
	name := deploy.DaemonSetName(deploy.PodNetwork)
	if _, err := client.Clientset.AppsV1().DaemonSets(ns).Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("giving DaemonSet %s/%s the Multus networks %q: %w", ns, name, networks, err)
	}
	fmt.Fprintf(log, "agents of DaemonSet %s/%s ask for Multus networks %q\n", ns, name, networks)
	return nil
}

// preflightNeeds are the permissions (beyond the agents') the paths that
// will run need.
func preflightNeeds(paths map[PathKind]bool, s Spec) []deploy.Need {
	needs := []deploy.Need{deploy.NeedReach}
	for _, pn := range []struct {
		path PathKind
		need deploy.Need
	}{{PathHairpin, deploy.NeedReachHairpin}, {PathIngress, deploy.NeedReachIngress}, {PathGateway, deploy.NeedReachGateway}, {PathDNS, deploy.NeedReachDNS}} {
		if paths[pn.path] {
			needs = append(needs, pn.need)
		}
	}
	if paths[PathMultus] && s.MultusNetworks != "" {
		needs = append(needs, deploy.NeedReachMultus)
	}
	return needs
}

// resolvePaths keeps the asked paths the cluster can serve. An explicitly
// asked path it cannot serve is a FieldError; an optional one not asked
// for is dropped with a note.
func resolvePaths(s Spec, c Capabilities) (map[PathKind]bool, []string, error) {
	why := map[PathKind]string{PathLoadBalancer: c.LB, PathIngress: c.NoIngress, PathGateway: c.NoGateway, PathMultus: c.NoMultus}
	out := map[PathKind]bool{}
	var notes []string
	var errs []error
	for _, p := range s.Paths {
		if reason := why[p]; reason != "" {
			if field := s.Asked[p]; field != "" {
				errs = append(errs, fieldErr(field, "asks for the %s path, but %s; drop it, or install (or grant) what it needs (nothing was created)", p, reason))
			} else {
				notes = append(notes, fmt.Sprintf("%s path not run: %s", p, reason))
			}
			continue
		}
		out[p] = true
	}
	if len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	if len(out) == 0 {
		return nil, nil, fieldErr("paths", "none of the asked paths can run on this cluster: %s", strings.Join(notes, "; "))
	}
	return out, notes, nil
}

// buildView creates reach's Services (and Ingress, HTTPRoute, hairpin
// Services) and reads what they offer once their endpoints are ready.
func buildView(ctx context.Context, client *kube.Client, dyn dynamic.Interface, o Options, paths map[PathKind]bool,
	caps Capabilities, inv *inventory.Inventory, own owner, log io.Writer) (*View, error) {
	cs := client.Clientset
	ns := o.Namespace
	v := &View{Port: o.Port, PodAgents: map[string]*Agent{}, HostAgents: map[string]*Agent{}, Hairpin: map[string]ServiceView{}, DNSName: o.DNSName}
	have := map[string]bool{}
	for _, n := range inv.Nodes {
		v.Nodes = append(v.Nodes, NodeView{Name: n.Name, IPs: n.InternalIPs})
		for _, ip := range n.InternalIPs {
			have[FamilyOf(ip)] = true
		}
	}
	if o.Spec.IPv4 && have["IPv4"] {
		v.Families = append(v.Families, "IPv4")
	}
	if o.Spec.IPv6 && have["IPv6"] {
		v.Families = append(v.Families, "IPv6")
	}
	if len(v.Families) == 0 {
		return nil, fieldErr("ip-family", "the cluster's nodes have no address of the asked families")
	}
	conv := func(a *inventory.Agent) *Agent {
		return &Agent{Node: a.Node, Pod: a.Pod, IPs: a.IPs, Ready: a.Ready, Problem: a.Problem}
	}
	for node, a := range inv.Agents[deploy.PodNetwork] {
		v.PodAgents[node] = conv(a)
	}
	for node, a := range inv.Agents[deploy.HostNetwork] {
		v.HostAgents[node] = conv(a)
	}
	if paths[PathMultus] {
		secondary := 0
		defer func() {
			if secondary == 0 {
				fmt.Fprintf(log, "multus: no agent has a secondary interface; give them networks with --multus-networks (the %s annotation)\n", MultusNetworksAnnotation)
			}
		}()
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: deploy.AgentSelector(deploy.PodNetwork)})
		if err != nil {
			return nil, err
		}
		for i := range pods.Items {
			p := &pods.Items[i]
			if a := v.PodAgents[p.Spec.NodeName]; a != nil && a.Pod == p.Name {
				ips, err := multusIPs(p)
				if err != nil {
					fmt.Fprintf(log, "multus: %v\n", err)
				}
				a.Secondary = ips
				secondary += len(ips)
			}
		}
	}

	// Objects.
	for _, s := range Services(ns, o.Port, paths, own) {
		if err := applyService(ctx, client, s); err != nil {
			return nil, err
		}
	}
	hairpinNode := map[string]string{} // service name -> node
	if paths[PathHairpin] {
		for i, n := range v.Nodes {
			a := v.PodAgents[n.Name]
			if a == nil || !a.Ready {
				continue
			}
			svc := HairpinService(ns, i, n.Name, o.Port, own)
			if err := applyService(ctx, client, svc); err != nil {
				return nil, err
			}
			for _, sl := range HairpinSlices(ns, i, n.Name, a.Pod, a.IPs, o.Port, own) {
				if err := applySlice(ctx, client, sl); err != nil {
					return nil, err
				}
			}
			hairpinNode[svc.Name] = n.Name
		}
	}
	if paths[PathIngress] {
		ing := Ingress(ns, caps.IngressClass, o.Port, own)
		_, err := cs.NetworkingV1().Ingresses(ns).Create(ctx, ing, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			cur, gerr := cs.NetworkingV1().Ingresses(ns).Get(ctx, ing.Name, metav1.GetOptions{})
			if gerr != nil {
				return nil, gerr
			}
			if err = owned(cur.Labels, "Ingress", ns, ing.Name); err == nil {
				ing.ResourceVersion = cur.ResourceVersion
				_, err = cs.NetworkingV1().Ingresses(ns).Update(ctx, ing, metav1.UpdateOptions{})
			}
		}
		if err != nil {
			return nil, fmt.Errorf("creating Ingress %s/%s: %w", ns, ing.Name, err)
		}
	}
	if paths[PathGateway] && dyn != nil {
		rt := HTTPRoute(ns, caps.Gateway.Namespace, caps.Gateway.Name, o.Port, own)
		_, err := dyn.Resource(httpRouteGVR).Namespace(ns).Create(ctx, rt, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			cur, gerr := dyn.Resource(httpRouteGVR).Namespace(ns).Get(ctx, RouteName, metav1.GetOptions{})
			if gerr != nil {
				return nil, gerr
			}
			if err = owned(cur.GetLabels(), "HTTPRoute", ns, RouteName); err == nil {
				rt.SetResourceVersion(cur.GetResourceVersion())
				_, err = dyn.Resource(httpRouteGVR).Namespace(ns).Update(ctx, rt, metav1.UpdateOptions{})
			}
		}
		if err != nil {
			return nil, fmt.Errorf("creating HTTPRoute %s/%s: %w", ns, RouteName, err)
		}
		v.Gateway = ServiceView{Addresses: caps.Gateway.Addresses, Port: caps.Gateway.Port}
	}

	// Wait (bounded) until every ready agent is an endpoint, and for
	// LB/Ingress addresses.
	ready := 0
	for _, a := range v.PodAgents {
		if a.Ready {
			ready += len(a.IPs)
		}
	}
	deadline := time.Now().Add(o.AddressWait)
	read := func(name string, wantAddr bool) (ServiceView, error) {
		for {
			sv, err := serviceView(ctx, client, ns, name)
			if err != nil {
				return sv, err
			}
			done := len(sv.Endpoints) >= ready && (!wantAddr || len(sv.Addresses) > 0)
			if done || time.Now().After(deadline) {
				if wantAddr && len(sv.Addresses) == 0 {
					sv.Missing = fmt.Sprintf("Service %s/%s got no LoadBalancer address within %s", ns, name, o.AddressWait)
				}
				return sv, nil
			}
			select {
			case <-ctx.Done():
				return sv, ctx.Err()
			case <-time.After(500 * time.Millisecond):
			}
		}
	}
	var err error
	if paths[PathClusterIP] || paths[PathNodePort] || paths[PathIngress] || paths[PathGateway] {
		if v.Main, err = read(ServiceName, false); err != nil {
			return nil, err
		}
	}
	if paths[PathLocal] {
		if v.Local, err = read(LocalServiceName, false); err != nil {
			return nil, err
		}
	}
	if paths[PathAffinity] {
		if v.Affinity, err = read(AffinityServiceName, false); err != nil {
			return nil, err
		}
	}
	if paths[PathLoadBalancer] {
		if v.LB, err = read(LBServiceName, true); err != nil {
			return nil, err
		}
		if v.LB.Missing != "" {
			fmt.Fprintln(log, v.LB.Missing)
		}
	}
	for name, node := range hairpinNode {
		sv, err := serviceView(ctx, client, ns, name)
		if err != nil {
			return nil, err
		}
		v.Hairpin[node] = sv
	}
	if paths[PathIngress] {
		v.Ingress = ingressView(ctx, client, ns, deadline, o.AddressWait, log)
	}
	if paths[PathDNS] {
		ips, err := client.ClusterDNSIPs(ctx)
		if err != nil {
			return nil, fieldErr("paths", "dns: %v", err)
		}
		v.DNS.ClusterIPs = ips
		for _, name := range []string{"kube-dns", "coredns"} {
			eps, err := ReadyEndpoints(ctx, client.Clientset, "kube-system", name)
			if err == nil && len(eps) > 0 {
				v.DNS.Endpoints = eps
				break
			}
		}
	}
	return v, nil
}

// serviceView reads a Service's ClusterIPs, NodePort, LB addresses and
// ready endpoints.
func serviceView(ctx context.Context, client *kube.Client, ns, name string) (ServiceView, error) {
	var sv ServiceView
	s, err := client.Clientset.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return sv, fmt.Errorf("reading Service %s/%s: %w", ns, name, err)
	}
	for _, ip := range s.Spec.ClusterIPs {
		if ip != corev1.ClusterIPNone && ip != "" {
			sv.ClusterIPs = append(sv.ClusterIPs, ip)
		}
	}
	sv.ClusterIPs = kube.SortIPs(sv.ClusterIPs)
	if len(s.Spec.Ports) > 0 {
		sv.NodePort = int(s.Spec.Ports[0].NodePort)
	}
	sv.Addresses = LBAddresses(s)
	sv.Endpoints, err = ReadyEndpoints(ctx, client.Clientset, ns, name)
	return sv, err
}

// ingressView waits (until deadline) for the Ingress's addresses. Host
// names only (no IP) are not resolved: netctl resolves nothing.
func ingressView(ctx context.Context, client *kube.Client, ns string, deadline time.Time, wait time.Duration, log io.Writer) ServiceView {
	sv := ServiceView{Port: 80}
	for {
		ing, err := client.Clientset.NetworkingV1().Ingresses(ns).Get(ctx, IngressName, metav1.GetOptions{})
		if err == nil {
			var hostnames int
			if sv.Addresses, hostnames = IngressAddresses(ing); len(sv.Addresses) > 0 {
				return sv
			}
			if hostnames > 0 {
				sv.Missing = "the Ingress has only host names as addresses; netctl does not resolve names"
				fmt.Fprintln(log, sv.Missing)
				return sv
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			sv.Missing = fmt.Sprintf("Ingress %s/%s got no address within %s", ns, IngressName, wait)
			fmt.Fprintln(log, sv.Missing)
			return sv
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// owned refuses to take over an object netctl did not create.
func owned(labels map[string]string, kind, ns, name string) error {
	if labels[deploy.ManagedByLabel] != deploy.ManagedByValue || labels[ComponentLabel] != ComponentValue {
		return fmt.Errorf("%s %s/%s exists and was not created by netctl reach; it is left alone: use another --namespace", kind, ns, name)
	}
	return nil
}

// applyService creates s or updates netctl's own Service of that name
// (keeping the cluster-assigned IPs and ports).
func applyService(ctx context.Context, client *kube.Client, s *corev1.Service) error {
	api := client.Clientset.CoreV1().Services(s.Namespace)
	_, err := api.Create(ctx, s, metav1.CreateOptions{})
	if !apierrors.IsAlreadyExists(err) {
		if err != nil {
			return fmt.Errorf("creating Service %s/%s: %w", s.Namespace, s.Name, err)
		}
		return nil
	}
	cur, err := api.Get(ctx, s.Name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if err := owned(cur.Labels, "Service", s.Namespace, s.Name); err != nil {
		return err
	}
	if cur.Spec.Type != s.Spec.Type || cur.Spec.ExternalTrafficPolicy != s.Spec.ExternalTrafficPolicy && s.Spec.ExternalTrafficPolicy != "" {
		// Type changes are not worth the update rules: start afresh.
		if err := api.Delete(ctx, s.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		return applyService(ctx, client, s)
	}
	s.ResourceVersion = cur.ResourceVersion
	s.Spec.ClusterIP, s.Spec.ClusterIPs, s.Spec.IPFamilies = cur.Spec.ClusterIP, cur.Spec.ClusterIPs, cur.Spec.IPFamilies
	for i := range s.Spec.Ports {
		if i < len(cur.Spec.Ports) {
			s.Spec.Ports[i].NodePort = cur.Spec.Ports[i].NodePort
		}
	}
	s.Spec.HealthCheckNodePort = cur.Spec.HealthCheckNodePort
	if _, err := api.Update(ctx, s, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("updating Service %s/%s: %w", s.Namespace, s.Name, err)
	}
	return nil
}

// runRound sends every source agent its batch at once and folds results
// into tallies. HTTP and DNS rows of one source go in one load request: the
// agent's QPS is split evenly over all its targets and both kinds are paced
// alike (an agent runs one load at a time).
func runRound(ctx context.Context, acc *access, o Options, rows []Planned, tallies map[string]*tally) {
	type src struct {
		pod  string
		here bool
		rows []Planned
	}
	bySrc := map[string]*src{}
	var order []string
	for _, r := range rows {
		if r.Skip != "" {
			continue
		}
		k := string(r.Source.Vantage) + "/" + r.Source.Node
		s := bySrc[k]
		if s == nil {
			s = &src{pod: r.Source.Pod, here: r.Source.Vantage == VantageHere}
			bySrc[k] = s
			order = append(order, k)
		}
		s.rows = append(s.rows, r)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	q := o.Spec.Request
	for _, k := range order {
		s := bySrc[k]
		wg.Add(1)
		go func() {
			defer wg.Done()
			// More targets than one request may carry run as consecutive
			// requests (each the full duration).
			for _, chunk := range chunks(s.rows, load.MaxTargets) {
				req := load.Request{QPS: max(1, q.QPS*len(chunk)/len(s.rows)), Duration: q.Duration(), PerRequestTimeout: q.Timeout()}
				for _, r := range chunk {
					req.Targets = append(req.Targets, loadTarget(r, o.DNSName))
				}
				var res []load.TargetResult
				var err error
				if s.here {
					res = load.Run(ctx, req)
				} else {
					res, err = acc.runLoad(ctx, s.pod, req)
				}
				mu.Lock()
				if err != nil {
					for _, r := range chunk {
						tallies[r.ID].fail(fmt.Sprintf("load batch of agent pod %s on %s failed: %v", s.pod, r.Source.Node, err))
					}
				}
				for _, tr := range res {
					if t := tallies[tr.ID]; t != nil {
						t.add(tr)
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

// loadTarget is the load engine's target of row r: its URL, or for the dns
// path a query for dnsName at the row's DNS server.
func loadTarget(r Planned, dnsName string) load.Target {
	if r.Path == PathDNS {
		return load.Target{ID: r.ID, DNS: &load.DNS{Server: r.Address, Name: dnsName, Family: r.Family}}
	}
	return load.Target{ID: r.ID, URL: r.URL, Host: r.Host}
}

func chunks(rows []Planned, n int) [][]Planned {
	var out [][]Planned
	for len(rows) > n {
		out = append(out, rows[:n])
		rows = rows[n:]
	}
	if len(rows) > 0 {
		out = append(out, rows)
	}
	return out
}

// localIPToward is the source address this host uses toward dst (a UDP
// "connection" only asks the kernel for the route; nothing is sent).
func localIPToward(dst string) string {
	c, err := net.Dial("udp", net.JoinHostPort(dst, "9"))
	if err != nil {
		return ""
	}
	defer c.Close()
	if a, ok := c.LocalAddr().(*net.UDPAddr); ok {
		return a.IP.String()
	}
	return ""
}

// sortRows orders rows by path, source, family, address.
func sortRows(rows []Row) {
	rank := map[PathKind]int{}
	for i, p := range AllPaths {
		rank[p] = i
	}
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if a.Source.Node != b.Source.Node {
			return a.Source.Node < b.Source.Node
		}
		if a.Source.Vantage != b.Source.Vantage {
			return a.Source.Vantage < b.Source.Vantage
		}
		if rank[a.Path] != rank[b.Path] {
			return rank[a.Path] < rank[b.Path]
		}
		if a.Family != b.Family {
			return a.Family < b.Family
		}
		return a.Address < b.Address
	})
}
