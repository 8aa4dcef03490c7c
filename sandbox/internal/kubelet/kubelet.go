// Package kubelet is the sandbox's mini-kubelet: one process that plays the
// node agent for every simulated node of the sandbox cluster.
//
// It registers the Node objects (with status, addresses and pod CIDRs in one
// Create), renews their Leases, and runs the pods the scheduler binds to them:
// each pod gets its own network namespace joined to its node's namespace by a
// veth pair, and each container is a local process started inside the pod's
// network namespace plus private mount and UTS namespaces (its own
// /etc/resolv.conf, /etc/hosts, hostname and volumes). A kubelet HTTPS server
// on every node IP (port 10250) serves `kubectl exec` and `kubectl logs`.
//
// # Images
//
// Images from Config.Registries (the sandbox's own registry) are pulled over
// the registry API (go-containerregistry): the manifest for this node's
// platform is chosen from an index ("no matching platform" otherwise), blobs
// are checked against their digests, the flattened root filesystem is
// unpacked once per manifest digest under StateDir/images, and each
// container runs chrooted into an overlay of it (with /proc, /sys, /dev and
// its mounts inside), as the image's user unless the securityContext says
// otherwise, with the image's entrypoint/cmd/env/workingDir under the
// Kubernetes rules. ContainerStatus.imageID is repo@sha256:... A failed
// pull (manifest unknown, unauthorized, unreachable, no matching platform,
// any registry outside Config.Registries, which is never contacted) shows
// ErrImagePull with the registry's message, then ImagePullBackOff, and is
// retried with back-off.
//
// Config.Images maps a few image references to local binaries instead (the
// sandbox's CoreDNS and echo server). Keys are matched in this order:
//
//   - an exact reference, e.g. "ghcr.io/netdoctor/netctl:v1.2.3";
//   - "REPO:*": any tag (or digest) of exactly that repository,
//     e.g. "ghcr.io/netdoctor/netctl:*";
//   - "*/NAME:TAG": any repository whose last path element is NAME with a tag
//     matching TAG (path.Match syntax), e.g. "*/netctl:*".
//
// The mapped binary is the image's entrypoint: a container with an empty
// command runs BINARY ARGS... A command whose first word is the binary's base
// name or the image's last path element (e.g. "netctl") runs BINARY; any other
// first word is looked up on the host PATH. $(VAR) references in command and
// args are expanded from the container's environment first, as the kubelet
// does ($$(VAR) is a literal $(VAR); an undefined reference stays as is).
// An image that matches nothing leaves the container Waiting with reason
// ErrImagePull, then ImagePullBackOff, and the pod never becomes Ready.
package kubelet

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/netip"
	"os"
	"path/filepath"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

// Node describes one simulated node. Its network namespace already exists
// with its link, addresses, forwarding and inter-node routes.
type Node struct {
	Name     string   // Node object name
	Netns    string   // node network namespace name (under /run/netns)
	IPs      []string // node InternalIPs (v4 and/or v6)
	PodCIDRs []string // this node's pod CIDR(s)
	Zone     string
	// Kind "" is a Linux node that runs pods; KindWindows and KindVirtual
	// are agentless nodes (no namespace needed, see agentless.go).
	Kind string
}

// Config is everything Run needs.
type Config struct {
	Kubeconfig    string
	Nodes         []Node
	ClusterName   string            // pod netns names: "nd-<ClusterName>-p-<shortid>"
	ClusterDNS    []string          // kube-dns service IPs for pod resolv.conf
	ClusterDomain string            // "cluster.local"
	Images        map[string]string // image reference or pattern -> local binary path (see package doc)
	// Registries are the registry hosts ("127.0.0.1:PORT") images not in
	// Images are pulled from; no other registry is ever contacted.
	Registries []string
	StateDir   string // pods/<uid>/..., pids/, ipam/
	// TLS for the :10250 exec/logs server. With ClientCA set, clients must
	// present a certificate it signed (the API server's kubelet client cert).
	ServingCert, ServingKey, ClientCA string
	// MTU of both ends of every pod veth (0: kernel default).
	MTU int
	// SecondaryRanges are the second segment's ranges (up --multus): with
	// them the kubelet honours k8s.v1.cni.cncf.io/networks (secondary.go);
	// without, the annotation is ignored, as on a cluster without Multus.
	SecondaryRanges []netip.Prefix
}

// Run registers the nodes and runs their pods until ctx is cancelled, then
// stops every container and removes every pod network namespace it made.
func Run(ctx context.Context, cfg Config) error {
	k, err := newKubelet(cfg)
	if err != nil {
		return err
	}
	return k.run(ctx)
}

type kubelet struct {
	cfg    Config
	client kubernetes.Interface
	log    *log.Logger

	nodes map[string]*nodeState // by node name

	// setupSem bounds concurrent pod network/namespace setups.
	setupSem chan struct{}

	mu      sync.Mutex
	workers map[types.UID]*podWorker
	// finished holds pods whose worker deleted them; cleared on their delete event.
	finished map[types.UID]bool
	wg       sync.WaitGroup

	images *imageStore // nil without Registries

	svcEnvMu sync.Mutex
	svcEnv   []corev1.EnvVar

	secMu   sync.Mutex
	secIPAM map[string]*allocator // host-local NAD ranges (secondary.go)
}

func validateConfig(cfg Config) error {
	var errs []error
	if cfg.ClusterName == "" {
		errs = append(errs, errors.New("kubelet config: ClusterName is empty"))
	}
	if cfg.StateDir == "" {
		errs = append(errs, errors.New("kubelet config: StateDir is empty"))
	}
	if len(cfg.Nodes) == 0 {
		errs = append(errs, errors.New("kubelet config: no Nodes"))
	}
	seen := map[string]bool{}
	for i, n := range cfg.Nodes {
		if n.Kind != "" {
			errs = append(errs, validateAgentless(i, n, seen)...)
			continue
		}
		if n.Name == "" || n.Netns == "" {
			errs = append(errs, fmt.Errorf("kubelet config: Nodes[%d]: Name and Netns are required", i))
		}
		if seen[n.Name] {
			errs = append(errs, fmt.Errorf("kubelet config: Nodes[%d]: duplicate name %q", i, n.Name))
		}
		seen[n.Name] = true
		if len(n.IPs) == 0 || len(n.PodCIDRs) == 0 {
			errs = append(errs, fmt.Errorf("kubelet config: node %q: IPs and PodCIDRs are required", n.Name))
		}
	}
	return errors.Join(errs...)
}

func newKubelet(cfg Config) (*kubelet, error) {
	if err := validateConfig(cfg); err != nil {
		return nil, err
	}
	rc, err := clientcmd.BuildConfigFromFlags("", cfg.Kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig %q: %w", cfg.Kubeconfig, err)
	}
	// One process speaks for every node: allow far more than one kubelet's rate.
	rc.QPS, rc.Burst = 200, 400
	rc.UserAgent = "netdoctor-sandbox-kubelet"
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("creating client: %w", err)
	}
	return newKubeletWithClient(cfg, client)
}

func newKubeletWithClient(cfg Config, client kubernetes.Interface) (*kubelet, error) {
	if err := validateConfig(cfg); err != nil {
		return nil, err
	}
	if cfg.ClusterDomain == "" {
		cfg.ClusterDomain = "cluster.local"
	}
	k := &kubelet{
		cfg:      cfg,
		client:   client,
		log:      log.New(os.Stderr, "kubelet: ", log.LstdFlags|log.Lmicroseconds),
		nodes:    map[string]*nodeState{},
		setupSem: make(chan struct{}, 16),
		workers:  map[types.UID]*podWorker{},
		finished: map[types.UID]bool{},
		secIPAM:  map[string]*allocator{},
	}
	for _, dir := range []string{"pods", "pids", "ipam", "images"} {
		if err := os.MkdirAll(filepath.Join(cfg.StateDir, dir), 0o755); err != nil {
			return nil, fmt.Errorf("creating state dir: %w", err)
		}
	}
	if len(cfg.Registries) > 0 {
		k.images = newImageStore(filepath.Join(cfg.StateDir, "images"), cfg.Registries)
	}
	for _, n := range cfg.Nodes {
		ns, err := newNodeState(n, filepath.Join(cfg.StateDir, "ipam", n.Name+".json"))
		if err != nil {
			return nil, err
		}
		k.nodes[n.Name] = ns
	}
	return k, nil
}

func (k *kubelet) run(ctx context.Context) error {
	if err := ensureNetnsDir(); err != nil {
		return err
	}
	k.cleanupLeftovers()
	if err := k.registerNodes(ctx); err != nil {
		return err
	}
	for _, n := range k.nodes {
		k.wg.Add(1)
		go func() { defer k.wg.Done(); k.keepNodeAlive(ctx, n) }()
	}
	srv, err := k.startServer(ctx)
	if err != nil {
		return err
	}
	defer srv.Close()

	factory := informers.NewSharedInformerFactoryWithOptions(k.client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.FieldSelector = "spec.nodeName!=" }))
	inf := factory.Core().V1().Pods().Informer()
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { k.podChanged(ctx, obj) },
		UpdateFunc: func(_, obj any) { k.podChanged(ctx, obj) },
		DeleteFunc: func(obj any) { k.podGone(obj) },
	}); err != nil {
		return fmt.Errorf("watching pods: %w", err)
	}
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		k.shutdown()
		return ctx.Err()
	}
	// Pods that no longer exist may not keep their addresses.
	live := map[string]bool{}
	for _, obj := range inf.GetStore().List() {
		if p, ok := obj.(*corev1.Pod); ok {
			live[string(p.UID)] = true
		}
	}
	for _, n := range k.nodes {
		if err := n.ipam.Retain(live); err != nil {
			k.log.Printf("node %s: pruning IP allocations: %v", n.Name, err)
		}
	}
	k.log.Printf("running %d nodes", len(k.nodes))
	<-ctx.Done()
	factory.Shutdown()
	k.shutdown()
	return nil
}

// podChanged hands the newest version of one of our pods to its worker.
func (k *kubelet) podChanged(ctx context.Context, obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	node, ok := k.nodes[pod.Spec.NodeName]
	if !ok {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if ctx.Err() != nil {
		return
	}
	w, ok := k.workers[pod.UID]
	if !ok {
		if k.finished[pod.UID] {
			return
		}
		if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			if pod.DeletionTimestamp == nil {
				return // finished before we saw it (e.g. before a restart): nothing to run
			}
		}
		w = newPodWorker(k, node, pod)
		k.workers[pod.UID] = w
		k.wg.Add(1)
		go func() {
			defer k.wg.Done()
			w.run(ctx)
			k.mu.Lock()
			delete(k.workers, pod.UID)
			k.mu.Unlock()
		}()
	}
	w.update(pod, false)
}

func (k *kubelet) podGone(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	k.mu.Lock()
	w := k.workers[pod.UID]
	delete(k.finished, pod.UID)
	k.mu.Unlock()
	if w != nil {
		w.update(pod, true)
	}
}

// shutdown waits for every worker to stop its containers and remove its
// namespaces (their contexts are already cancelled).
func (k *kubelet) shutdown() {
	k.wg.Wait()
	if err := RemoveClusterCgroups(k.cfg.ClusterName); err != nil {
		k.log.Printf("removing cgroups: %v", err)
	}
}
