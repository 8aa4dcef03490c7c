package kubelet

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/kubernetes/third_party/forked/golang/expansion"
)

const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// podContext is what field references and downward API files may read.
type podContext struct {
	pod     *corev1.Pod
	podIPs  []string
	hostIPs []string
	node    *nodeState
}

// fieldValue resolves a downward-API fieldRef path.
func (pc podContext) fieldValue(fieldPath string) (string, error) {
	p := pc.pod
	switch fieldPath {
	case "metadata.name":
		return p.Name, nil
	case "metadata.namespace":
		return p.Namespace, nil
	case "metadata.uid":
		return string(p.UID), nil
	case "metadata.labels":
		return formatMap(p.Labels), nil
	case "metadata.annotations":
		return formatMap(p.Annotations), nil
	case "spec.nodeName":
		return p.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return p.Spec.ServiceAccountName, nil
	case "status.podIP":
		return first(pc.podIPs), nil
	case "status.podIPs":
		return strings.Join(pc.podIPs, ","), nil
	case "status.hostIP":
		return first(pc.hostIPs), nil
	case "status.hostIPs":
		return strings.Join(pc.hostIPs, ","), nil
	}
	for _, m := range []struct {
		prefix string
		values map[string]string
	}{{"metadata.labels['", p.Labels}, {"metadata.annotations['", p.Annotations}} {
		if strings.HasPrefix(fieldPath, m.prefix) && strings.HasSuffix(fieldPath, "']") {
			return m.values[strings.TrimSuffix(strings.TrimPrefix(fieldPath, m.prefix), "']")], nil
		}
	}
	return "", fmt.Errorf("unsupported fieldRef %q", fieldPath)
}

// resourceValue resolves a resourceFieldRef: the container's limit or
// request, or the node's allocatable when no limit is set.
func (pc podContext) resourceValue(containerName string, ref *corev1.ResourceFieldSelector) (string, error) {
	name := ref.ContainerName
	if name == "" {
		name = containerName
	}
	var c *corev1.Container
	for i := range pc.pod.Spec.Containers {
		if pc.pod.Spec.Containers[i].Name == name {
			c = &pc.pod.Spec.Containers[i]
		}
	}
	if c == nil {
		return "", fmt.Errorf("resourceFieldRef: no container %q", name)
	}
	kind, res, ok := strings.Cut(ref.Resource, ".")
	if !ok {
		return "", fmt.Errorf("unsupported resourceFieldRef %q", ref.Resource)
	}
	list := c.Resources.Limits
	if kind == "requests" {
		list = c.Resources.Requests
	}
	q, ok := list[corev1.ResourceName(res)]
	if !ok {
		switch res {
		case "cpu":
			q = resource.MustParse("8")
		case "memory":
			q = resource.MustParse("16Gi")
		default:
			q = resource.MustParse("100Gi")
		}
	}
	divisor := ref.Divisor
	if divisor.IsZero() {
		divisor = resource.MustParse("1")
	}
	if res == "cpu" {
		// Round up, as the kubelet does.
		v := (q.MilliValue() + divisor.MilliValue() - 1) / divisor.MilliValue()
		return strconv.FormatInt(v, 10), nil
	}
	v := (q.Value() + divisor.Value() - 1) / divisor.Value()
	return strconv.FormatInt(v, 10), nil
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// formatMap renders labels/annotations as the downward API does: sorted key="value" lines.
func formatMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%s=%q", k, m[k])
	}
	return b.String()
}

// errConfig marks a container configuration the kubelet cannot run
// (reported as CreateContainerConfigError).
type errConfig struct{ err error }

func (e errConfig) Error() string { return e.err.Error() }
func (e errConfig) Unwrap() error { return e.err }

// containerEnv builds a container's environment in the kubelet's order:
// defaults, service variables, envFrom, then env (with $(VAR) expansion).
func containerEnv(ctx context.Context, client kubernetes.Interface, pc podContext, c *corev1.Container, svcEnv []corev1.EnvVar) ([]string, error) {
	vars := map[string]string{}
	var order []string
	set := func(k, v string) {
		if _, ok := vars[k]; !ok {
			order = append(order, k)
		}
		vars[k] = v
	}
	hostname := pc.pod.Name
	if pc.pod.Spec.HostNetwork {
		hostname = pc.pod.Spec.NodeName
	}
	set("PATH", defaultPath)
	set("HOSTNAME", hostname)
	set("HOME", "/root")
	for _, e := range svcEnv {
		set(e.Name, e.Value)
	}
	ns := pc.pod.Namespace
	secrets := map[string]*corev1.Secret{}
	configMaps := map[string]*corev1.ConfigMap{}
	getSecret := func(name string) (*corev1.Secret, error) {
		if s, ok := secrets[name]; ok {
			return s, nil
		}
		s, err := client.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		secrets[name] = s
		return s, nil
	}
	getConfigMap := func(name string) (*corev1.ConfigMap, error) {
		if s, ok := configMaps[name]; ok {
			return s, nil
		}
		s, err := client.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		configMaps[name] = s
		return s, nil
	}
	optional := func(o *bool) bool { return o != nil && *o }

	for _, from := range c.EnvFrom {
		switch {
		case from.ConfigMapRef != nil:
			cm, err := getConfigMap(from.ConfigMapRef.Name)
			if err != nil {
				if apierrors.IsNotFound(err) && optional(from.ConfigMapRef.Optional) {
					continue
				}
				return nil, errConfig{fmt.Errorf("configmap %q: %w", from.ConfigMapRef.Name, err)}
			}
			for k, v := range cm.Data {
				set(from.Prefix+k, v)
			}
		case from.SecretRef != nil:
			s, err := getSecret(from.SecretRef.Name)
			if err != nil {
				if apierrors.IsNotFound(err) && optional(from.SecretRef.Optional) {
					continue
				}
				return nil, errConfig{fmt.Errorf("secret %q: %w", from.SecretRef.Name, err)}
			}
			for k, v := range s.Data {
				set(from.Prefix+k, string(v))
			}
		}
	}

	for _, e := range c.Env {
		if e.ValueFrom == nil {
			set(e.Name, expansion.Expand(e.Value, expansion.MappingFuncFor(vars)))
			continue
		}
		var v string
		switch vf := e.ValueFrom; {
		case vf.FieldRef != nil:
			fv, err := pc.fieldValue(vf.FieldRef.FieldPath)
			if err != nil {
				return nil, errConfig{fmt.Errorf("env %s: %w", e.Name, err)}
			}
			v = fv
		case vf.ResourceFieldRef != nil:
			rv, err := pc.resourceValue(c.Name, vf.ResourceFieldRef)
			if err != nil {
				return nil, errConfig{fmt.Errorf("env %s: %w", e.Name, err)}
			}
			v = rv
		case vf.SecretKeyRef != nil:
			s, err := getSecret(vf.SecretKeyRef.Name)
			if err != nil {
				if apierrors.IsNotFound(err) && optional(vf.SecretKeyRef.Optional) {
					continue
				}
				return nil, errConfig{fmt.Errorf("env %s: secret %q: %w", e.Name, vf.SecretKeyRef.Name, err)}
			}
			data, ok := s.Data[vf.SecretKeyRef.Key]
			if !ok {
				if optional(vf.SecretKeyRef.Optional) {
					continue
				}
				return nil, errConfig{fmt.Errorf("env %s: secret %q has no key %q", e.Name, vf.SecretKeyRef.Name, vf.SecretKeyRef.Key)}
			}
			v = string(data)
		case vf.ConfigMapKeyRef != nil:
			cm, err := getConfigMap(vf.ConfigMapKeyRef.Name)
			if err != nil {
				if apierrors.IsNotFound(err) && optional(vf.ConfigMapKeyRef.Optional) {
					continue
				}
				return nil, errConfig{fmt.Errorf("env %s: configmap %q: %w", e.Name, vf.ConfigMapKeyRef.Name, err)}
			}
			data, ok := cm.Data[vf.ConfigMapKeyRef.Key]
			if !ok {
				if optional(vf.ConfigMapKeyRef.Optional) {
					continue
				}
				return nil, errConfig{fmt.Errorf("env %s: configmap %q has no key %q", e.Name, vf.ConfigMapKeyRef.Name, vf.ConfigMapKeyRef.Key)}
			}
			v = data
		default:
			return nil, errConfig{fmt.Errorf("env %s: unsupported valueFrom", e.Name)}
		}
		set(e.Name, v)
	}
	out := make([]string, 0, len(order))
	for _, k := range order {
		out = append(out, k+"="+vars[k])
	}
	return out, nil
}

// serviceEnv is the KUBERNETES_SERVICE_* set every container gets, read once
// from the default/kubernetes Service.
func (k *kubelet) serviceEnv(ctx context.Context) []corev1.EnvVar {
	k.svcEnvMu.Lock()
	defer k.svcEnvMu.Unlock()
	if k.svcEnv != nil {
		return k.svcEnv
	}
	svc, err := k.client.CoreV1().Services(metav1.NamespaceDefault).Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil || svc.Spec.ClusterIP == "" || len(svc.Spec.Ports) == 0 {
		return nil // try again for the next container
	}
	host := svc.Spec.ClusterIP
	port := strconv.Itoa(int(svc.Spec.Ports[0].Port))
	hp := host
	if strings.Contains(host, ":") {
		hp = "[" + host + "]"
	}
	k.svcEnv = []corev1.EnvVar{
		{Name: "KUBERNETES_SERVICE_HOST", Value: host},
		{Name: "KUBERNETES_SERVICE_PORT", Value: port},
		{Name: "KUBERNETES_SERVICE_PORT_HTTPS", Value: port},
		{Name: "KUBERNETES_PORT", Value: "tcp://" + hp + ":" + port},
		{Name: "KUBERNETES_PORT_" + port + "_TCP", Value: "tcp://" + hp + ":" + port},
		{Name: "KUBERNETES_PORT_" + port + "_TCP_PROTO", Value: "tcp"},
		{Name: "KUBERNETES_PORT_" + port + "_TCP_PORT", Value: port},
		{Name: "KUBERNETES_PORT_" + port + "_TCP_ADDR", Value: host},
	}
	return k.svcEnv
}

// expandCommand expands $(VAR) references in command and args from the
// container's final environment (KEY=VALUE entries), as the kubelet does:
// a defined VAR is replaced, $$ escapes to a literal $, and an undefined
// reference stays as written.
func expandCommand(command, args, env []string) ([]string, []string) {
	vars := make(map[string]string, len(env))
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vars[k] = v
		}
	}
	mapping := expansion.MappingFuncFor(vars)
	expand := func(in []string) []string {
		if in == nil {
			return nil
		}
		out := make([]string, len(in))
		for i, s := range in {
			out[i] = expansion.Expand(s, mapping)
		}
		return out
	}
	return expand(command), expand(args)
}
