package kubelet

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// volumeFiles materialises a pod's volumes as directories under dir (one
// per volume) and returns volume name -> directory. Secret, ConfigMap,
// downward API and projected volumes are written once at pod start;
// emptyDir is an empty directory; hostPath maps to a per-node directory in
// the state dir (never the real host path).
func materialiseVolumes(ctx context.Context, client kubernetes.Interface, pc podContext, dir, nodeDir string) (map[string]volume, error) {
	out := map[string]volume{}
	for _, v := range pc.pod.Spec.Volumes {
		vdir := filepath.Join(dir, v.Name)
		vol := volume{path: vdir, readOnly: true}
		var files map[string]fileData
		var err error
		switch {
		case v.EmptyDir != nil:
			vol.readOnly = false
		case v.HostPath != nil:
			vol.path = filepath.Join(nodeDir, "hostpath", filepath.Clean("/"+v.HostPath.Path))
			vol.readOnly = false
			if err := os.MkdirAll(vol.path, 0o755); err != nil {
				return nil, err
			}
			out[v.Name] = vol
			continue
		case v.Secret != nil:
			files, err = secretFiles(ctx, client, pc.pod.Namespace, &corev1.SecretProjection{
				LocalObjectReference: corev1.LocalObjectReference{Name: v.Secret.SecretName},
				Items:                v.Secret.Items, Optional: v.Secret.Optional}, mode(v.Secret.DefaultMode))
		case v.ConfigMap != nil:
			files, err = configMapFiles(ctx, client, pc.pod.Namespace, &corev1.ConfigMapProjection{
				LocalObjectReference: v.ConfigMap.LocalObjectReference,
				Items:                v.ConfigMap.Items, Optional: v.ConfigMap.Optional}, mode(v.ConfigMap.DefaultMode))
		case v.DownwardAPI != nil:
			files, err = downwardFiles(pc, &corev1.DownwardAPIProjection{Items: v.DownwardAPI.Items}, mode(v.DownwardAPI.DefaultMode))
		case v.Projected != nil:
			files, err = projectedFiles(ctx, client, pc, v.Projected)
		default:
			return nil, errConfig{fmt.Errorf("volume %q: unsupported volume type (the sandbox supports emptyDir, hostPath, secret, configMap, downwardAPI, projected)", v.Name)}
		}
		if err != nil {
			return nil, errConfig{fmt.Errorf("volume %q: %w", v.Name, err)}
		}
		if err := os.MkdirAll(vdir, 0o755); err != nil {
			return nil, err
		}
		for name, f := range files {
			p := filepath.Join(vdir, filepath.Clean("/"+name))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return nil, err
			}
			if err := os.WriteFile(p, f.data, f.mode); err != nil {
				return nil, err
			}
			if err := os.Chmod(p, f.mode); err != nil {
				return nil, err
			}
		}
		if err := setFSGroup(vdir, pc.pod); err != nil {
			return nil, err
		}
		out[v.Name] = vol
	}
	return out, nil
}

type volume struct {
	path     string
	readOnly bool
}

type fileData struct {
	data []byte
	mode os.FileMode
}

func mode(m *int32) os.FileMode {
	if m == nil {
		return 0o644
	}
	return os.FileMode(*m) & 0o777
}

func itemMode(m *int32, def os.FileMode) os.FileMode {
	if m == nil {
		return def
	}
	return os.FileMode(*m) & 0o777
}

func keyFiles(data map[string][]byte, items []corev1.KeyToPath, def os.FileMode, what string) (map[string]fileData, error) {
	out := map[string]fileData{}
	if len(items) == 0 {
		for k, v := range data {
			out[k] = fileData{v, def}
		}
		return out, nil
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			return nil, fmt.Errorf("%s has no key %q", what, it.Key)
		}
		out[it.Path] = fileData{v, itemMode(it.Mode, def)}
	}
	return out, nil
}

func secretFiles(ctx context.Context, client kubernetes.Interface, ns string, p *corev1.SecretProjection, def os.FileMode) (map[string]fileData, error) {
	s, err := client.CoreV1().Secrets(ns).Get(ctx, p.Name, metav1.GetOptions{})
	if err != nil {
		if apierrors.IsNotFound(err) && p.Optional != nil && *p.Optional {
			return nil, nil
		}
		return nil, fmt.Errorf("secret %q: %w", p.Name, err)
	}
	return keyFiles(s.Data, p.Items, def, fmt.Sprintf("secret %q", p.Name))
}

func configMapFiles(ctx context.Context, client kubernetes.Interface, ns string, p *corev1.ConfigMapProjection, def os.FileMode) (map[string]fileData, error) {
	cm, err := client.CoreV1().ConfigMaps(ns).Get(ctx, p.Name, metav1.GetOptions{})
	if err != nil {
		if apierrors.IsNotFound(err) && p.Optional != nil && *p.Optional {
			return nil, nil
		}
		return nil, fmt.Errorf("configmap %q: %w", p.Name, err)
	}
	data := map[string][]byte{}
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return keyFiles(data, p.Items, def, fmt.Sprintf("configmap %q", p.Name))
}

func downwardFiles(pc podContext, p *corev1.DownwardAPIProjection, def os.FileMode) (map[string]fileData, error) {
	out := map[string]fileData{}
	for _, it := range p.Items {
		var v string
		var err error
		switch {
		case it.FieldRef != nil:
			v, err = pc.fieldValue(it.FieldRef.FieldPath)
		case it.ResourceFieldRef != nil:
			v, err = pc.resourceValue("", it.ResourceFieldRef)
		default:
			err = fmt.Errorf("downwardAPI item %q has no source", it.Path)
		}
		if err != nil {
			return nil, err
		}
		out[it.Path] = fileData{[]byte(v), itemMode(it.Mode, def)}
	}
	return out, nil
}

func projectedFiles(ctx context.Context, client kubernetes.Interface, pc podContext, p *corev1.ProjectedVolumeSource) (map[string]fileData, error) {
	def := mode(p.DefaultMode)
	out := map[string]fileData{}
	for _, src := range p.Sources {
		var files map[string]fileData
		var err error
		switch {
		case src.Secret != nil:
			files, err = secretFiles(ctx, client, pc.pod.Namespace, src.Secret, def)
		case src.ConfigMap != nil:
			files, err = configMapFiles(ctx, client, pc.pod.Namespace, src.ConfigMap, def)
		case src.DownwardAPI != nil:
			files, err = downwardFiles(pc, src.DownwardAPI, def)
		case src.ServiceAccountToken != nil:
			var tok string
			tok, err = serviceAccountToken(ctx, client, pc.pod, src.ServiceAccountToken)
			files = map[string]fileData{src.ServiceAccountToken.Path: {[]byte(tok), def}}
		default:
			err = fmt.Errorf("unsupported projected source")
		}
		if err != nil {
			return nil, err
		}
		for k, v := range files {
			out[k] = v
		}
	}
	return out, nil
}

// serviceAccountToken asks the TokenRequest API for a token bound to the pod.
func serviceAccountToken(ctx context.Context, client kubernetes.Interface, pod *corev1.Pod, p *corev1.ServiceAccountTokenProjection) (string, error) {
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	req := &authv1.TokenRequest{Spec: authv1.TokenRequestSpec{
		ExpirationSeconds: p.ExpirationSeconds,
		BoundObjectRef:    &authv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
	}}
	if p.Audience != "" {
		req.Spec.Audiences = []string{p.Audience}
	}
	if req.Spec.ExpirationSeconds == nil {
		req.Spec.ExpirationSeconds = ptr.To[int64](3600)
	}
	tr, err := client.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, sa, req, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("token for service account %q: %w", sa, err)
	}
	return tr.Status.Token, nil
}

// resolvConf renders the pod's /etc/resolv.conf from its DNS policy.
// dnsPolicy Default would mean the host's resolver, which sandbox pods must
// never contact: they get a file without name servers instead.
func resolvConf(pod *corev1.Pod, clusterDNS []string, domain string) string {
	policy := pod.Spec.DNSPolicy
	if policy == "" {
		policy = corev1.DNSClusterFirst
	}
	if policy == corev1.DNSClusterFirst && pod.Spec.HostNetwork {
		policy = corev1.DNSDefault
	}
	var servers, search, options []string
	switch policy {
	case corev1.DNSClusterFirst, corev1.DNSClusterFirstWithHostNet:
		servers = append(servers, clusterDNS...)
		search = []string{pod.Namespace + ".svc." + domain, "svc." + domain, domain}
		options = []string{"ndots:5"}
	}
	if c := pod.Spec.DNSConfig; c != nil {
		servers = append(servers, c.Nameservers...)
		search = append(search, c.Searches...)
		for _, o := range c.Options {
			if o.Value != nil {
				options = append(options, o.Name+":"+*o.Value)
			} else {
				options = append(options, o.Name)
			}
		}
	}
	var b strings.Builder
	b.WriteString("# written by the netdoctor sandbox kubelet\n")
	for _, s := range servers {
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	if len(search) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(search, " "))
	}
	if len(options) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(options, " "))
	}
	return b.String()
}

// hostsFile renders the pod's /etc/hosts.
func hostsFile(pod *corev1.Pod, hostname string, ips []string) string {
	var b strings.Builder
	b.WriteString("# Kubernetes-managed hosts file (netdoctor sandbox).\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n")
	names := hostname
	if pod.Spec.Hostname != "" && pod.Spec.Subdomain != "" {
		names = fmt.Sprintf("%s.%s.%s.svc %s", pod.Spec.Hostname, pod.Spec.Subdomain, pod.Namespace, hostname)
	}
	for _, ip := range ips {
		fmt.Fprintf(&b, "%s\t%s\n", ip, names)
	}
	for _, h := range pod.Spec.HostAliases {
		fmt.Fprintf(&b, "%s\t%s\n", h.IP, strings.Join(h.Hostnames, "\t"))
	}
	return b.String()
}

// refreshTokens rewrites every projected service-account token of the pod
// at 80% of its lifetime, as the kubelet does, until ctx ends. Files are
// rewritten in place so that subPath (file) mounts see the new token too.
func refreshTokens(ctx context.Context, client kubernetes.Interface, pod *corev1.Pod, volDir string, logf func(string, ...any)) {
	type tokenFile struct {
		path string
		src  *corev1.ServiceAccountTokenProjection
	}
	var files []tokenFile
	every := time.Duration(0)
	for _, v := range pod.Spec.Volumes {
		if v.Projected == nil {
			continue
		}
		for _, s := range v.Projected.Sources {
			if s.ServiceAccountToken == nil {
				continue
			}
			files = append(files, tokenFile{filepath.Join(volDir, v.Name, filepath.Clean("/"+s.ServiceAccountToken.Path)), s.ServiceAccountToken})
			exp := time.Hour
			if s.ServiceAccountToken.ExpirationSeconds != nil {
				exp = time.Duration(*s.ServiceAccountToken.ExpirationSeconds) * time.Second
			}
			if every == 0 || exp*8/10 < every {
				every = exp * 8 / 10
			}
		}
	}
	if len(files) == 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, f := range files {
			tok, err := serviceAccountToken(ctx, client, pod, f.src)
			if err == nil {
				err = os.WriteFile(f.path, []byte(tok), 0o644)
			}
			if err != nil && ctx.Err() == nil {
				logf("pod %s/%s: refreshing token %s: %v", pod.Namespace, pod.Name, f.path, err)
			}
		}
	}
}

// setFSGroup gives a volume to the pod's securityContext.fsGroup, as the
// kubelet's volume ownership management does: group owner fsGroup, group
// read (and write for emptyDir) on files, setgid directories. Without it a
// non-root container could not read its own Secret volumes.
func setFSGroup(dir string, pod *corev1.Pod) error {
	sc := pod.Spec.SecurityContext
	if sc == nil || sc.FSGroup == nil {
		return nil
	}
	gid := int(*sc.FSGroup)
	return filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if err := os.Lchown(p, -1, gid); err != nil {
			return err
		}
		m := fi.Mode().Perm() | 0o040
		if fi.IsDir() {
			return os.Chmod(p, m|0o010|os.ModeSetgid)
		}
		return os.Chmod(p, m)
	})
}
