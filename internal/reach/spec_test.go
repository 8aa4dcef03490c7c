package reach

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestValidateNamesEveryBadField(t *testing.T) {
	s := DefaultSpec()
	s.Request = Request{QPS: 0, DurationInSecond: -1, PerRequestTimeoutInMS: 0}
	s.Expect.SuccessRate = 1.5
	s.Expect.MeanAccessDelayInMs = 0
	s.Rounds = 0
	err := s.Validate("spec.")
	if err == nil {
		t.Fatal("no error")
	}
	for _, f := range []string{"spec.request.qps", "spec.request.durationInSecond", "spec.request.perRequestTimeoutInMS",
		"spec.expect.successRate", "spec.expect.meanAccessDelayInMs", "rounds"} {
		if !strings.Contains(err.Error(), f+":") {
			t.Errorf("error does not name %s:\n%v", f, err)
		}
	}
	s = DefaultSpec()
	s.Request.QPS = MaxQPS + 1
	var fe *FieldError
	if err := s.Validate(""); !errors.As(err, &fe) || fe.Field != "request.qps" {
		t.Errorf("qps above max: %v", err)
	}
	s = DefaultSpec()
	s.Request.PerRequestTimeoutInMS = 20000
	s.Request.DurationInSecond = 10
	if err := s.Validate(""); err == nil || !strings.Contains(err.Error(), "longer than the round") {
		t.Errorf("timeout longer than the round: %v", err)
	}
	if err := DefaultSpec().Validate(""); err != nil {
		t.Errorf("default spec invalid: %v", err)
	}
}

func TestParsePaths(t *testing.T) {
	ps, err := ParsePaths("--paths", []string{"pod,ClusterIP", " nodeport", "pod"})
	if err != nil || len(ps) != 3 || ps[1] != PathClusterIP {
		t.Fatalf("got %v %v", ps, err)
	}
	_, err = ParsePaths("--paths", []string{"pod,udp"})
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "--paths" || !strings.Contains(fe.Msg, `"udp"`) {
		t.Fatalf("unknown kind: %v", err)
	}
}

const kdoctorExample = `
apiVersion: kdoctor.io/v1beta1
kind: NetReach
metadata:
  name: netreach
spec:
  agentSpec:
    hostNetwork: false
    kind: DaemonSet
    annotation:
      k8s.v1.cni.cncf.io/networks: macvlan-a
  expect:
    meanAccessDelayInMs: 1500
    successRate: 0.99
  request:
    durationInSecond: 10
    perRequestTimeoutInMS: 1000
    qps: 10
  schedule:
    roundNumber: 2
    roundTimeoutMinute: 1
    schedule: 0 1
  target:
    clusterIP: true
    enableLatencyMetric: false
    endpoint: true
    ingress: false
    ipv4: true
    ipv6: true
    loadBalancer: true
    multusInterface: false
    nodePort: true
status:
  doneRound: 1
`

func TestParseNetReachKdoctorExample(t *testing.T) {
	s, err := ParseNetReach([]byte(kdoctorExample))
	if err != nil {
		t.Fatal(err)
	}
	if s.Request != (Request{QPS: 10, DurationInSecond: 10, PerRequestTimeoutInMS: 1000}) {
		t.Errorf("request %+v", s.Request)
	}
	if s.Expect.SuccessRate != 0.99 || s.Expect.MeanAccessDelayInMs != 1500 || s.Expect.AllBackends {
		t.Errorf("expect %+v", s.Expect)
	}
	if s.MultusNetworks != "macvlan-a" {
		t.Errorf("multus networks %q from agentSpec.annotation", s.MultusNetworks)
	}
	if s.Rounds != 2 || s.Interval != time.Minute {
		t.Errorf("rounds %d interval %s", s.Rounds, s.Interval)
	}
	want := []PathKind{PathPod, PathClusterIP, PathNodePort, PathLoadBalancer}
	if len(s.Paths) != len(want) {
		t.Fatalf("paths %v, want %v", s.Paths, want)
	}
	for i := range want {
		if s.Paths[i] != want[i] {
			t.Errorf("paths %v, want %v", s.Paths, want)
		}
	}
	if s.Asked[PathLoadBalancer] != "spec.target.loadBalancer" || s.Asked[PathIngress] != "" {
		t.Errorf("asked %v", s.Asked)
	}
	if !s.IPv4 || !s.IPv6 {
		t.Errorf("families %v %v", s.IPv4, s.IPv6)
	}
	notes := strings.Join(s.Notes, "\n")
	for _, f := range []string{"spec.agentSpec", "spec.target.enableLatencyMetric", "spec.schedule.roundTimeoutMinute", "status"} {
		if !strings.Contains(notes, f+" is not used") {
			t.Errorf("no note for %s:\n%s", f, notes)
		}
	}
}

func TestParseNetReachDefaultsAndErrors(t *testing.T) {
	s, err := ParseNetReach([]byte("apiVersion: kdoctor.io/v1beta1\nkind: NetReach\nmetadata: {name: a}\n"))
	if err != nil {
		t.Fatal(err)
	}
	// kdoctor's defaults: qps 5, 2 s, 500 ms; endpoint, clusterIP, nodePort; IPv4 only.
	if s.Request != (Request{QPS: 5, DurationInSecond: 2, PerRequestTimeoutInMS: 500}) || !s.IPv4 || s.IPv6 || len(s.Paths) != 3 || len(s.Asked) != 0 {
		t.Errorf("defaults: %+v", s)
	}
	for _, c := range []struct{ doc, field string }{
		{"apiVersion: kdoctor.io/v1beta1\nkind: NetDns\n", "kind"},
		{"apiVersion: v1\nkind: NetReach\n", "apiVersion"},
		{"apiVersion: kdoctor.io/v1beta1\nkind: NetReach\nspec: {request: {qps: 0}}\n", "spec.request.qps"},
		{"apiVersion: kdoctor.io/v1beta1\nkind: NetReach\nspec: {request: {durationInSecond: 0}}\n", "spec.request.durationInSecond"},
		{"apiVersion: kdoctor.io/v1beta1\nkind: NetReach\nspec: {request: {perRequestTimeoutInMS: -5}}\n", "spec.request.perRequestTimeoutInMS"},
		{"apiVersion: kdoctor.io/v1beta1\nkind: NetReach\nspec: {schedule: {schedule: 'soon'}}\n", "spec.schedule.schedule"},
		{"apiVersion: kdoctor.io/v1beta1\nkind: NetReach\nspec: {target: {endpoint: false, clusterIP: false, nodePort: false}}\n", "spec.target"},
	} {
		_, err := ParseNetReach([]byte(c.doc))
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != c.field {
			t.Errorf("%q: got %v, want a FieldError on %s", c.doc, err, c.field)
		}
	}
	s, err = ParseNetReach([]byte("apiVersion: kdoctor.io/v1beta1\nkind: NetReach\nspec: {schedule: {roundNumber: -1, schedule: '*/1 * * * *'}}\n"))
	if err != nil || s.Rounds != 1 || len(s.Notes) != 2 {
		t.Errorf("forever/crontab: %v %d %q", err, s.Rounds, s.Notes)
	}
}

func TestResolvePaths(t *testing.T) {
	s := DefaultSpec()
	caps := Capabilities{LB: "no LB", NoIngress: "no class", NoGateway: "no gw", NoMultus: "no multus"}
	got, notes, err := resolvePaths(s, caps)
	if err != nil || got[PathLoadBalancer] || !got[PathClusterIP] || len(notes) != 4 {
		t.Fatalf("defaults on a bare cluster: %v %v %v", got, notes, err)
	}
	s.Asked[PathLoadBalancer] = "--paths loadbalancer"
	_, _, err = resolvePaths(s, caps)
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "--paths loadbalancer" || !strings.Contains(fe.Msg, "no LB") {
		t.Fatalf("asked LB on a cluster without: %v", err)
	}
	got, _, err = resolvePaths(s, Capabilities{})
	if err != nil || !got[PathLoadBalancer] || !got[PathMultus] {
		t.Fatalf("everything available: %v %v", got, err)
	}
}
