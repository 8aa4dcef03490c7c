package reach

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// NetReach is the part of a kdoctor NetReach object (apiVersion
// kdoctor.io/v1beta1) netctl reads. Booleans are pointers so a missing
// field takes kdoctor's default.
type NetReach struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		AgentSpec *struct {
			Annotation map[string]string `json:"annotation"`
		} `json:"agentSpec"`
		Target *NetReachTarget `json:"target"`
		// Request and Expect decode onto kdoctor's defaults, set before
		// decoding: a field the object leaves out keeps its default.
		Request  Request `json:"request"`
		Expect   Expect  `json:"expect"`
		Schedule *struct {
			RoundNumber        *int    `json:"roundNumber"`
			Schedule           *string `json:"schedule"`
			RoundTimeoutMinute *int    `json:"roundTimeoutMinute"`
		} `json:"schedule"`
	} `json:"spec"`
}

// NetReachTarget are the target switches (kdoctor's, then netdoctor's).
type NetReachTarget struct {
	Endpoint            *bool `json:"endpoint"`
	ClusterIP           *bool `json:"clusterIP"`
	NodePort            *bool `json:"nodePort"`
	LoadBalancer        *bool `json:"loadBalancer"`
	Ingress             *bool `json:"ingress"`
	MultusInterface     *bool `json:"multusInterface"`
	IPv4                *bool `json:"ipv4"`
	IPv6                *bool `json:"ipv6"`
	EnableLatencyMetric *bool `json:"enableLatencyMetric"`
	// netdoctor's own switches (not in kdoctor): off unless set.
	Gateway         *bool `json:"gateway"`
	Hairpin         *bool `json:"hairpin"`
	DNS             *bool `json:"dns"`
	NodePortLocal   *bool `json:"nodePortLocal"`
	SessionAffinity *bool `json:"sessionAffinity"`
}

// kdoctor's defaults (docs/reference/netreach.md of kdoctor).
const (
	kdoctorQPS      = 5
	kdoctorDuration = 2
	kdoctorTimeout  = 500
	kdoctorMeanMs   = 5000
)

// notUsed are the NetReach fields netctl reads but does not act on, with
// what it does instead.
var notUsed = map[string]string{
	"spec.agentSpec":                   "netctl deploys its own agents (DaemonSets, one per node; see `netctl reach --help` for --namespace, --image-repository)",
	"spec.target.enableLatencyMetric":  "latency is always measured (microsecond histograms, p50..p99 always filled)",
	"spec.schedule.roundTimeoutMinute": "each round is bounded by durationInSecond plus perRequestTimeoutInMS",
	"status":                           "a report is printed, not stored in the object",
}

// ParseNetReach reads a NetReach YAML (or JSON) document into a Spec.
// Errors name the field (exit 2); fields netctl does not use become Notes.
func ParseNetReach(data []byte) (Spec, error) {
	var raw map[string]any
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return Spec{}, fieldErr("-f", "not a YAML or JSON object: %v", err)
	}
	// kdoctor's defaults; kdoctor never judged which backends answered:
	// allBackends is off unless asked.
	var nr NetReach
	nr.Spec.Request = Request{QPS: kdoctorQPS, DurationInSecond: kdoctorDuration, PerRequestTimeoutInMS: kdoctorTimeout}
	nr.Spec.Expect = Expect{SuccessRate: 1, MeanAccessDelayInMs: kdoctorMeanMs}
	if err := yaml.Unmarshal(data, &nr); err != nil {
		return Spec{}, fieldErr("-f", "not a NetReach object: %v", err)
	}
	if nr.Kind != "NetReach" {
		return Spec{}, fieldErr("kind", "is %q; netctl reach -f reads a kdoctor NetReach (kind: NetReach)", nr.Kind)
	}
	if nr.APIVersion != "kdoctor.io/v1beta1" {
		return Spec{}, fieldErr("apiVersion", "is %q; netctl reach -f reads kdoctor.io/v1beta1", nr.APIVersion)
	}
	s := DefaultSpec()
	s.Paths, s.Asked = nil, map[PathKind]string{}
	on := func(p *bool, def bool) bool {
		if p == nil {
			return def
		}
		return *p
	}
	t := nr.Spec.Target
	if t == nil {
		t = &NetReachTarget{}
	}
	for _, sw := range []struct {
		v     *bool
		def   bool
		kind  PathKind
		field string
	}{
		{t.Endpoint, true, PathPod, "endpoint"}, {t.ClusterIP, true, PathClusterIP, "clusterIP"}, {t.NodePort, true, PathNodePort, "nodePort"},
		{t.NodePortLocal, false, PathLocal, "nodePortLocal"}, {t.SessionAffinity, false, PathAffinity, "sessionAffinity"},
		{t.Hairpin, false, PathHairpin, "hairpin"}, {t.LoadBalancer, false, PathLoadBalancer, "loadBalancer"},
		{t.Ingress, false, PathIngress, "ingress"}, {t.Gateway, false, PathGateway, "gateway"},
		{t.MultusInterface, false, PathMultus, "multusInterface"}, {t.DNS, false, PathDNS, "dns"},
	} {
		if on(sw.v, sw.def) {
			s.Paths = append(s.Paths, sw.kind)
			// A switch set to true in the object is an explicit ask.
			if sw.v != nil {
				s.Asked[sw.kind] = "spec.target." + sw.field
			}
		}
	}
	s.IPv4, s.IPv6 = on(t.IPv4, true), on(t.IPv6, false)

	s.Request, s.Expect = nr.Spec.Request, nr.Spec.Expect
	if sc := nr.Spec.Schedule; sc != nil {
		if sc.RoundNumber != nil {
			switch n := *sc.RoundNumber; {
			case n == -1:
				s.Notes = append(s.Notes, "spec.schedule.roundNumber -1 (forever) is not a one-shot run: ran 1 round; repeat `netctl reach` (or use --rounds) instead")
			case n < 1:
				return Spec{}, fieldErr("spec.schedule.roundNumber", "must be -1 or at least 1, got %d", n)
			default:
				s.Rounds = n
			}
		}
		if sc.Schedule != nil {
			iv, note, err := parseSchedule(*sc.Schedule)
			if err != nil {
				return Spec{}, err
			}
			s.Interval = iv
			if note != "" {
				s.Notes = append(s.Notes, note)
			}
		}
	}
	if as := nr.Spec.AgentSpec; as != nil {
		s.MultusNetworks = as.Annotation[MultusNetworksAnnotation]
	}
	for _, f := range presentNotUsed(raw) {
		s.Notes = append(s.Notes, fmt.Sprintf("%s is not used: %s", f, notUsed[f]))
	}
	if err := s.Validate("spec."); err != nil {
		return Spec{}, err
	}
	return s, nil
}

// parseSchedule reads kdoctor's "M N" form (start after M minutes, a
// round every N minutes): netctl starts at once and takes N as the
// interval between rounds. A crontab form is only meaningful for a
// scheduler: noted, rounds run back to back.
func parseSchedule(v string) (time.Duration, string, error) {
	f := strings.Fields(v)
	if len(f) == 2 {
		m, err1 := strconv.Atoi(f[0])
		n, err2 := strconv.Atoi(f[1])
		if err1 != nil || err2 != nil || m < 0 || n < 0 {
			return 0, "", fieldErr("spec.schedule.schedule", "%q: the interval form is \"M N\" with M, N whole minutes >= 0", v)
		}
		note := ""
		if m > 0 {
			note = fmt.Sprintf("spec.schedule.schedule %q: the start delay of %d minute(s) is not used; the first round starts at once", v, m)
		}
		return time.Duration(n) * time.Minute, note, nil
	}
	if len(f) == 5 || len(f) == 6 {
		return 0, fmt.Sprintf("spec.schedule.schedule %q (crontab) is not used by a one-shot run: rounds run back to back (--interval sets a pause)", v), nil
	}
	return 0, "", fieldErr("spec.schedule.schedule", "%q is neither \"M N\" nor a crontab line", v)
}

// presentNotUsed lists the fields of notUsed the document sets, sorted.
func presentNotUsed(raw map[string]any) []string {
	var out []string
	for f := range notUsed {
		parts := strings.Split(f, ".")
		var cur any = raw
		ok := true
		for _, p := range parts {
			m, isMap := cur.(map[string]any)
			if !isMap {
				ok = false
				break
			}
			if cur, ok = m[p]; !ok {
				break
			}
		}
		if ok {
			out = append(out, f)
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}
