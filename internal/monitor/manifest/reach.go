package manifest

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/netdoctor/netdoctor/internal/monitor/api"
	"github.com/netdoctor/netdoctor/internal/monitor/reachmon"
)

// ReachService is the Service over the pod-network agents that the reach
// rounds' clusterip and nodeport paths go through.
const (
	ReachService         = api.ReachServiceName
	DefaultReachNodePort = 31082
)

// ReachOptions turn on reach rounds in the pod-network agents (empty
// Schedule: off, and no reach Service).
type ReachOptions struct {
	Schedule string // "M N" or a 5-field cron line
	QPS      int
	Duration time.Duration
	Timeout  time.Duration
	NodePort int
	// Expectations the server exports for the alert rules.
	ExpectSuccessRate float64
	ExpectP99         time.Duration
}

// DefaultReach is the reach options' defaults (Schedule empty: off).
func DefaultReach() ReachOptions {
	return ReachOptions{QPS: reachmon.DefaultQPS, Duration: reachmon.DefaultDuration, Timeout: reachmon.DefaultTimeout,
		NodePort: DefaultReachNodePort, ExpectSuccessRate: 1, ExpectP99: time.Second}
}

func (o Options) validateReach() []error {
	r := o.Reach
	if r.Schedule == "" {
		return nil
	}
	var errs []error
	if _, err := reachmon.ParseSchedule("--reach-schedule", r.Schedule); err != nil {
		errs = append(errs, err)
	}
	c := reachmon.Config{QPS: r.QPS, Duration: r.Duration, Timeout: r.Timeout, Service: ReachService, ServicePort: 1}
	if err := c.Validate(); err != nil {
		errs = append(errs, err)
	}
	if r.NodePort < 30000 || r.NodePort > 32767 {
		errs = append(errs, fmt.Errorf("--reach-node-port: must be within the default NodePort range 30000-32767, got %d", r.NodePort))
	}
	if r.NodePort == o.NodePort {
		errs = append(errs, fmt.Errorf("--reach-node-port and --node-port: must differ, both are %d", r.NodePort))
	}
	if r.ExpectSuccessRate < 0 || r.ExpectSuccessRate > 1 {
		errs = append(errs, fmt.Errorf("--reach-expect-success-rate: must be within [0, 1], got %v", r.ExpectSuccessRate))
	}
	if r.ExpectP99 < 0 {
		errs = append(errs, errors.New("--reach-expect-p99: must be >= 0 (0 = no p99 alert)"))
	}
	return errs
}

// reachService is a dual-stack (where the cluster has both families)
// NodePort Service over the pod-network agents' echo port.
func reachService(o Options) *corev1.Service {
	policy := corev1.IPFamilyPolicyPreferDualStack
	return &corev1.Service{
		TypeMeta:   service(o).TypeMeta,
		ObjectMeta: meta(o, ReachService, api.AgentAppName),
		Spec: corev1.ServiceSpec{
			Type:           corev1.ServiceTypeNodePort,
			IPFamilyPolicy: &policy,
			Selector:       map[string]string{api.LabelName: api.AgentAppName, api.LabelPartOf: api.PartOf, api.LabelNetwork: string(api.NetworkPod)},
			Ports: []corev1.ServicePort{{Name: "echo", Port: int32(o.AgentPort), Protocol: corev1.ProtocolTCP,
				TargetPort: intstr.FromString("http"), NodePort: int32(o.Reach.NodePort)}},
		},
	}
}

// reachAgentArgs are the pod-network agent's reach flags.
func reachAgentArgs(o Options) []string {
	return []string{
		"--reach-schedule=" + o.Reach.Schedule,
		"--reach-qps=" + strconv.Itoa(o.Reach.QPS),
		"--reach-duration=" + o.Reach.Duration.String(),
		"--reach-timeout=" + o.Reach.Timeout.String(),
		"--reach-service=" + ReachService + "." + o.Namespace + ".svc",
		"--reach-node-port=" + strconv.Itoa(o.Reach.NodePort),
	}
}

// withReachServer adds the reach expectation flags to the server when
// reach rounds are on.
func withReachServer(o Options, d *appsv1.Deployment) *appsv1.Deployment {
	if o.Reach.Schedule != "" {
		c := &d.Spec.Template.Spec.Containers[0]
		c.Command = append(c.Command,
			"--reach-expect-success-rate="+strconv.FormatFloat(o.Reach.ExpectSuccessRate, 'f', -1, 64),
			"--reach-expect-p99="+o.Reach.ExpectP99.String())
	}
	return d
}
