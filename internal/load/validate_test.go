package load

import (
	"strings"
	"testing"
	"time"
)

func TestValidateNamesEveryBadField(t *testing.T) {
	good := Request{QPS: 100, Duration: time.Second, PerRequestTimeout: time.Second,
		Targets: []Target{{ID: "a", URL: "http://10.0.0.1:8889/echo"}}}
	if err := good.Validate(); err != nil {
		t.Fatalf("valid request rejected: %v", err)
	}
	cases := []struct {
		name string
		edit func(*Request)
		want []string
	}{
		{"zero qps", func(r *Request) { r.QPS = 0 }, []string{"qps must be between 1 and 20000", "got 0"}},
		{"qps above max", func(r *Request) { r.QPS = MaxQPS + 1 }, []string{"qps", "got 20001"}},
		{"zero duration", func(r *Request) { r.Duration = 0 }, []string{"duration must be greater than 0"}},
		{"long duration", func(r *Request) { r.Duration = time.Hour }, []string{"duration", "at most 10m0s"}},
		{"negative timeout", func(r *Request) { r.PerRequestTimeout = -time.Second }, []string{"perRequestTimeout must be greater than 0"}},
		{"in flight", func(r *Request) { r.MaxInFlight = MaxMaxInFlight + 1 }, []string{"maxInFlight"}},
		{"no targets", func(r *Request) { r.Targets = nil }, []string{"targets: at least one target"}},
		{"https", func(r *Request) { r.Targets = []Target{{ID: "x", URL: "https://a:1/"}} }, []string{`targets[0] (id "x"): url "https://a:1/" must be http://`}},
		{"status", func(r *Request) { r.Targets[0].ExpectStatus = []int{42} }, []string{"expectStatus 42"}},
		{"all at once", func(r *Request) { *r = Request{} }, []string{"qps", "duration", "perRequestTimeout", "targets"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := good
			r.Targets = append([]Target(nil), good.Targets...)
			c.edit(&r)
			err := r.Validate()
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}
