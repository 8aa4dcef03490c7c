package monitorcmd

import (
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	deployfiles "github.com/netdoctor/netdoctor/deploy"
	"github.com/netdoctor/netdoctor/internal/monitor/api"
	"github.com/netdoctor/netdoctor/internal/monitor/manifest"
	"github.com/netdoctor/netdoctor/internal/probe"
	"github.com/netdoctor/netdoctor/internal/version"
)

// objectFlags are the flags that shape the monitor objects (install, render).
type objectFlags struct {
	namespace       string
	imageRepository string
	version         string
	interval        time.Duration
	peers           int
	nodePort        int
	agentPort       int
	serverPort      int
	promOperator    bool
	kinds           []string
	reach           manifest.ReachOptions
}

func (f *objectFlags) add(fs *pflag.FlagSet, defaultVersion string) {
	fs.StringVarP(&f.namespace, "namespace", "n", manifest.DefaultNamespace, "namespace of the monitor (created if missing)")
	fs.StringVar(&f.imageRepository, "image-repository", manifest.DefaultImageRepository, "image repository; the image is <repository>/netctl:<version>")
	fs.StringVar(&f.version, "version", defaultVersion, "image tag")
	fs.DurationVar(&f.interval, "interval", manifest.DefaultInterval, "agents' reporting interval (whole seconds; e.g. 2s for tests)")
	fs.IntVar(&f.peers, "peers-per-node", manifest.DefaultPeers, "each node is probed by this many others (all others on clusters of up to 2k+1 nodes)")
	fs.IntVar(&f.nodePort, "node-port", 0, "also expose the server on this NodePort (k8s-netchecker used 31081); 0 = no NodePort")
	fs.IntVar(&f.agentPort, "agent-port", manifest.DefaultAgentPort, "port agents answer probes on (host network agents use it on the node)")
	fs.IntVar(&f.serverPort, "server-port", manifest.DefaultServerPort, "server port")
	fs.StringSliceVar(&f.kinds, "kinds", nil, "what the agents probe: tcp, udp, icmp (peers) and dns (the cluster DNS lookup); default tcp,dns")
	r := manifest.DefaultReach()
	fs.StringVar(&f.reach.Schedule, "reach-schedule", "", "run reach rounds (pod, clusterip, nodeport and the asked loadbalancer, ingress, gateway paths under load) in the pod-network agents: \"M N\" (first after M minutes, then every N) or a 5-field cron line; empty = off")
	fs.IntVar(&f.reach.QPS, "reach-qps", r.QPS, "each agent's total requests per second in a reach round, split across its targets")
	fs.DurationVar(&f.reach.Duration, "reach-duration", r.Duration, "how long each reach round's load lasts")
	fs.DurationVar(&f.reach.Timeout, "reach-timeout", r.Timeout, "per-request timeout of the reach rounds")
	fs.IntVar(&f.reach.NodePort, "reach-node-port", r.NodePort, "NodePort of the reach Service "+manifest.ReachService)
	fs.BoolVar(&f.reach.LoadBalancer, "reach-load-balancer", false, "add the loadbalancer path to the reach rounds: a LoadBalancer Service "+api.ReachLBServiceName+" over the pod-network agents (the cluster must assign LB addresses)")
	fs.StringVar(&f.reach.IngressClass, "reach-ingress-class", "", "add the ingress path to the reach rounds: an Ingress of this IngressClass to the reach Service (install: auto = the default class, path off with a note when there is none)")
	fs.StringVar(&f.reach.Gateway, "reach-gateway", "", "add the gateway path to the reach rounds: an HTTPRoute on this Gateway (<namespace>/<name>) to the reach Service (install: auto = the first Gateway with an HTTP listener and an address, path off with a note when there is none)")
	fs.Float64Var(&f.reach.ExpectSuccessRate, "reach-expect-success-rate", r.ExpectSuccessRate, "alert when a reach path's success ratio is below this (0..1)")
	fs.DurationVar(&f.reach.ExpectP99, "reach-expect-p99", r.ExpectP99, "alert when a reach path's p99 latency is above this (0 = no p99 alert)")
	fs.BoolVar(&f.promOperator, "prometheus-operator", false, "also create a ServiceMonitor and a PrometheusRule (needs the Prometheus Operator CRDs)")
}

func (f *objectFlags) options() manifest.Options {
	return manifest.Options{
		Namespace:    f.namespace,
		Image:        manifest.Image(f.imageRepository, f.version),
		Interval:     f.interval,
		ServerPort:   f.serverPort,
		AgentPort:    f.agentPort,
		PeersPerNode: f.peers,
		NodePort:     f.nodePort,
		Kinds:        kinds(f.kinds),
		Reach:        f.reach,
	}
}

func defaultVersion() string { return version.Version }

// allObjects returns the typed objects plus, if asked, the Prometheus Operator ones.
func allObjects(o manifest.Options, promOperator bool) ([]runtime.Object, error) {
	var out []runtime.Object
	for _, obj := range manifest.Objects(o) {
		out = append(out, obj)
	}
	if promOperator {
		rule, err := manifest.PrometheusRule(o, deployfiles.AlertRules)
		if err != nil {
			return nil, err
		}
		out = append(out, manifest.ServiceMonitor(o), rule)
	}
	return out, nil
}

func toUnstructured(obj runtime.Object) (*unstructured.Unstructured, error) {
	if u, ok := obj.(*unstructured.Unstructured); ok {
		return u, nil
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, err
	}
	manifest.Clean(m)
	return &unstructured.Unstructured{Object: m}, nil
}

// kinds parses --kinds ("ping" is icmp, as everywhere).
func kinds(in []string) []probe.Kind {
	var out []probe.Kind
	for _, k := range in {
		out = append(out, probe.ParseKind(k))
	}
	return out
}
