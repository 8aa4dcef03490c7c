package multus

import (
	"encoding/json"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func TestParseNetworks(t *testing.T) {
	cases := []struct {
		in   string
		want []Selection
		err  string
	}{
		{"", nil, ""},
		{"a, other/b@sec0 ,c", []Selection{
			{Name: "a", Namespace: "app", Interface: "net1"},
			{Name: "b", Namespace: "other", Interface: "sec0"},
			{Name: "c", Namespace: "app", Interface: "net3"},
		}, ""},
		{`[{"name":"a"},{"name":"b","namespace":"x","interface":"eth5","ips":["100.64.48.9/24"]}]`, []Selection{
			{Name: "a", Namespace: "app", Interface: "net1"},
			{Name: "b", Namespace: "x", Interface: "eth5", IPs: []string{"100.64.48.9/24"}},
		}, ""},
		{`[{"name":`, nil, "JSON format"},
		{"Bad_Name", nil, "invalid network"},
		{"a@eth0", nil, "invalid interface name"},
		{"a@net2,b", nil, `interface "net2" requested twice`},
	}
	for _, c := range cases {
		got, err := ParseNetworks(c.in, "app")
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseNetworks(%q) error %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseNetworks(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
}

func TestParseConfig(t *testing.T) {
	allowed := []netip.Prefix{netip.MustParsePrefix("100.64.48.0/24"), netip.MustParsePrefix("fd0d:0:5::/64")}
	c, err := ParseConfig(`{"cniVersion":"0.3.1","name":"n","type":"macvlan","ipam":{"type":"host-local","ranges":[[{"subnet":"100.64.48.0/25"}],[{"subnet":"fd0d:0:5::/64"}]],"routes":[{"dst":"100.64.48.128/25"}]}}`, allowed)
	if err != nil || c.Master != "eth1" || c.Mode != "bridge" || c.IPAM.Type != "host-local" || len(c.IPAM.Subnets) != 2 || len(c.IPAM.Routes) != 1 {
		t.Errorf("macvlan host-local: %+v %v", c, err)
	}
	c, err = ParseConfig(`{"cniVersion":"1.0.0","name":"l","plugins":[{"type":"bridge","ipam":{"type":"static","addresses":[{"address":"100.64.48.9/24"}]}},{"type":"tuning"}]}`, allowed)
	if err != nil || c.Type != "bridge" || c.Bridge != "cni0" || c.Name != "l" || c.IPAM.Addresses[0] != netip.MustParsePrefix("100.64.48.9/24") {
		t.Errorf("conflist bridge static: %+v %v", c, err)
	}
	for cfg, msg := range map[string]string{
		`{`:                                  "invalid CNI config JSON",
		`{"type":"ipvlan"}`:                  `CNI plugin type "ipvlan" is not available`,
		`{"name":"x"}`:                       `no "type"`,
		`{"type":"macvlan","mode":"x"}`:      `macvlan mode "x"`,
		`{"type":"bridge","isGateway":true}`: "isGateway and ipMasq are not supported",
		`{"type":"macvlan","ipam":{"type":"dhcp"}}`:                                                                            `ipam type "dhcp" is not available`,
		`{"type":"macvlan","ipam":{"type":"static","addresses":[{"address":"10.0.0.1/24"}]}}`:                                  "outside the sandbox's secondary ranges",
		`{"type":"macvlan","ipam":{"type":"host-local","subnet":"100.64.0.0/16"}}`:                                             "outside the sandbox's secondary ranges",
		`{"type":"macvlan","ipam":{"type":"host-local","subnet":"100.64.48.1/24"}}`:                                            "want a network prefix",
		`{"type":"macvlan","ipam":{"type":"host-local","ranges":[[{"subnet":"100.64.48.0/24","rangeStart":"100.64.48.10"}]]}}`: "rangeStart/rangeEnd",
	} {
		if _, err := ParseConfig(cfg, allowed); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("ParseConfig(%s) error %v, want %q", cfg, err, msg)
		}
	}
}

// The annotation has Multus's shape: primary first with default true,
// "dns": {} always, no default key on secondaries, 4-space indent.
func TestStatusJSON(t *testing.T) {
	js, err := StatusJSON([]Status{
		{Name: DefaultNetworkName, Interface: "eth0", IPs: []string{"100.96.1.2"}, Mac: "aa:bb:cc:dd:ee:ff", Default: true},
		{Name: "default/m", Interface: "net1", IPs: []string{"100.64.48.2"}, Mac: "aa:bb:cc:dd:ee:01"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if err := json.Unmarshal([]byte(js), &got); err != nil {
		t.Fatal(err)
	}
	if got[0]["default"] != true || got[1]["default"] != nil || got[1]["dns"] == nil || got[0]["interface"] != "eth0" {
		t.Errorf("network-status %s", js)
	}
	if !strings.Contains(js, "\n    {") && !strings.Contains(js, "\n        \"name\"") {
		t.Errorf("not indented as Multus does: %s", js)
	}
}
