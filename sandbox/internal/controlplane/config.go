package controlplane

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/netdoctor/netdoctor/sandbox/internal/pki"
	"github.com/netdoctor/netdoctor/sandbox/internal/plan"
	"github.com/netdoctor/netdoctor/sandbox/internal/state"
)

// Identity is a user of the static token file and its kubeconfig.
type Identity struct {
	File   string // kubeconfig base name
	User   string
	Groups []string
}

// Identities the sandbox authenticates with static tokens. The default RBAC
// bindings of the API server grant each of them what it needs, except
// kube-router's (package netpol creates its ClusterRole and binding).
var Identities = []Identity{
	{File: "kubeconfig", User: "netdoctor-admin", Groups: []string{"system:masters"}},
	{File: "controller-manager.kubeconfig", User: "system:kube-controller-manager"},
	{File: "scheduler.kubeconfig", User: "system:kube-scheduler"},
	{File: "kube-proxy.kubeconfig", User: "system:kube-proxy"},
	// kube-router (up --network-policy); bound to its ClusterRole by package netpol.
	{File: "kube-router.kubeconfig", User: "netdoctor:kube-router"},
}

// Layout names the files of a cluster's state directory.
type Layout struct {
	Dir       string
	PKI       pki.Files
	TokenFile string
}

// NewLayout returns the layout under dir.
func NewLayout(dir string) Layout {
	return Layout{Dir: dir, PKI: pki.Paths(filepath.Join(dir, "pki")), TokenFile: filepath.Join(dir, "pki", "tokens.csv")}
}

// Kubeconfig returns the path of an identity's kubeconfig.
func (l Layout) Kubeconfig(file string) string { return filepath.Join(l.Dir, file) }

// WriteAuth writes the token file and one kubeconfig per identity.
func WriteAuth(l Layout, clusterName, server string) error {
	var csv strings.Builder
	for i, id := range Identities {
		b := make([]byte, 16)
		if _, err := rand.Read(b); err != nil {
			return fmt.Errorf("generating token: %w", err)
		}
		tok := hex.EncodeToString(b)
		fmt.Fprintf(&csv, "%s,%s,%d,\"%s\"\n", tok, id.User, 1000+i, strings.Join(id.Groups, ","))
		if err := writeKubeconfig(l.Kubeconfig(id.File), "nd-"+clusterName, server, l.PKI.CACert, id.User, tok); err != nil {
			return err
		}
	}
	if err := os.WriteFile(l.TokenFile, []byte(csv.String()), 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", l.TokenFile, err)
	}
	return nil
}

func writeKubeconfig(path, name, server, caFile, user, token string) error {
	ca, err := os.ReadFile(caFile)
	if err != nil {
		return fmt.Errorf("reading CA: %w", err)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[name] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: user}
	cfg.CurrentContext = name
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("writing kubeconfig %s: %w", path, err)
	}
	return nil
}

// EtcdArgs returns etcd's command line.
func EtcdArgs(s *state.State) []string {
	c := fmt.Sprintf("http://127.0.0.1:%d", s.Ports["etcd"])
	p := fmt.Sprintf("http://127.0.0.1:%d", s.Ports["etcd-peer"])
	return []string{"etcd", "--name=nd-" + s.Name, "--data-dir=" + s.EtcdDataDir,
		"--listen-client-urls=" + c, "--advertise-client-urls=" + c,
		"--listen-peer-urls=" + p, "--initial-advertise-peer-urls=" + p,
		"--initial-cluster=nd-" + s.Name + "=" + p,
		"--snapshot-count=100000", "--logger=zap", "--log-level=warn"}
}

// APIServerArgs returns kube-apiserver's flags.
func APIServerArgs(s *state.State, l Layout) []string {
	f := l.PKI
	return []string{
		fmt.Sprintf("--etcd-servers=http://127.0.0.1:%d", s.Ports["etcd"]),
		"--bind-address=" + s.APIServerIP, "--advertise-address=" + s.APIServerIP,
		fmt.Sprintf("--secure-port=%d", s.Ports["apiserver"]),
		"--tls-cert-file=" + f.APIServerCert, "--tls-private-key-file=" + f.APIServerKey,
		"--client-ca-file=" + f.CACert,
		"--requestheader-client-ca-file=" + f.CACert,
		"--requestheader-allowed-names=front-proxy-client",
		"--requestheader-username-headers=X-Remote-User",
		"--requestheader-group-headers=X-Remote-Group",
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--service-account-key-file=" + f.SAPub,
		"--service-account-signing-key-file=" + f.SAKey,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--token-auth-file=" + l.TokenFile,
		"--authorization-mode=Node,RBAC",
		"--allow-privileged=true",
		"--service-cluster-ip-range=" + strings.Join(s.ServiceCIDR, ","),
		"--kubelet-preferred-address-types=InternalIP",
		"--kubelet-client-certificate=" + f.KubeletClientCert,
		"--kubelet-client-key=" + f.KubeletClientKey,
		"--profiling=false",
		"--enable-admission-plugins=NodeRestriction",
		"--event-ttl=10m",
	}
}

// ControllerManagerArgs returns kube-controller-manager's flags.
func ControllerManagerArgs(s *state.State, l Layout) []string {
	kc := l.Kubeconfig("controller-manager.kubeconfig")
	return []string{
		"--kubeconfig=" + kc, "--authentication-kubeconfig=" + kc, "--authorization-kubeconfig=" + kc,
		"--bind-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", s.Ports["controller-manager"]),
		"--leader-elect=false", "--use-service-account-credentials=true",
		"--service-account-private-key-file=" + l.PKI.SAKey,
		"--root-ca-file=" + l.PKI.CACert,
		"--cluster-cidr=" + strings.Join(s.ClusterCIDR, ","),
		"--service-cluster-ip-range=" + strings.Join(s.ServiceCIDR, ","),
		"--allocate-node-cidrs=false",
		"--profiling=false",
		"--concurrent-daemonset-syncs=5", "--kube-api-qps=100", "--kube-api-burst=200",
	}
}

// SchedulerArgs returns kube-scheduler's flags.
func SchedulerArgs(s *state.State, l Layout) []string {
	kc := l.Kubeconfig("scheduler.kubeconfig")
	return []string{
		"--kubeconfig=" + kc, "--authentication-kubeconfig=" + kc, "--authorization-kubeconfig=" + kc,
		"--bind-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", s.Ports["scheduler"]),
		"--leader-elect=false", "--profiling=false",
	}
}

// KubeProxyArgs returns the flags of the kube-proxy of node (run inside the
// node namespace). The conntrack settings of zero keep it from touching the
// machine-wide sysctls.
func KubeProxyArgs(s *state.State, l Layout, node string) []string {
	mode := s.ProxyMode
	if mode == "" {
		mode = plan.ProxyIPTables
	}
	return []string{
		"--kubeconfig=" + l.Kubeconfig("kube-proxy.kubeconfig"),
		"--hostname-override=" + node,
		"--cluster-cidr=" + strings.Join(s.ClusterCIDR, ","),
		"--proxy-mode=" + mode,
		"--conntrack-max-per-core=0", "--conntrack-min=0",
		"--conntrack-tcp-timeout-established=0", "--conntrack-tcp-timeout-close-wait=0",
		"--metrics-bind-address=127.0.0.1:10249", "--healthz-bind-address=127.0.0.1:10256",
		"--profiling=false",
	}
}
