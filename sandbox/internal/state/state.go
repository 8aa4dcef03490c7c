// Package state persists what a sandbox cluster is made of, so that `down`,
// `status` and `fault` work from any later process, even after a crash.
//
// Layout: /var/lib/netdoctor-sandbox/
//
//	slots.json          cluster name -> slot (address plan index)
//	sysctl-saved.json   neighbour-table limits before the first cluster raised them
//	<name>/state.json   the State of one cluster, plus its certificates, kubeconfigs, logs
package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"syscall"

	"github.com/netdoctor/netdoctor/sandbox/internal/plan"
)

// Root is the directory holding every cluster's state. Tests may change it.
var Root = "/var/lib/netdoctor-sandbox"

// Process is a daemon the sandbox started.
type Process struct {
	Name string `json:"name"` // e.g. "kube-apiserver", "kube-proxy/<node>"
	PID  int    `json:"pid"`
	Log  string `json:"log"`
}

// Fault is one active fault and what it changed, so remove restores exactly.
type Fault struct {
	ID      string   `json:"id"`   // stable key: kind and normalized args
	Kind    string   `json:"kind"` // link, oneway, port, isolate, pod-routes, mtu, dns-down, delay, loss
	Args    []string `json:"args"`
	Changes []Change `json:"changes"`
}

// Change is one kernel change made by a fault, with what undoes it.
type Change struct {
	Netns string `json:"netns"` // "" = host namespace (never used by faults today)
	// Type is "nft-table" (Table was created), "route-del" (Route was deleted),
	// "mtu" (Link MTU changed from OldMTU), "qdisc" (root qdisc added on Link).
	Type   string `json:"type"`
	Table  string `json:"table,omitempty"`
	Route  string `json:"route,omitempty"`
	Link   string `json:"link,omitempty"`
	OldMTU int    `json:"oldMTU,omitempty"`
	// "process": the fault started PID (killed on remove and by down);
	// "kube-proxy-stopped": Node's kube-proxy (PID) was stopped, remove
	// starts it again; "sysctl": Key in Netns was Value before;
	// "kube-proxy-nft-reset": delete kube-proxy's nftables tables of the
	// families in Value ("ip ip6") before it starts again (svc-rules-flush).
	// "scaled-down": Deployment Key ("namespace/name") had Value replicas.
	// "route-replace": Route was replaced (remove puts it back); "link":
	// Link was added in Netns (remove deletes it, a veth with its peer).
	// "kube-proxy-sync-fail": the held chains in Netns's nat table of the
	// family whose restore command is Value (iptables-restore, ip6tables-restore).
	PID   int    `json:"pid,omitempty"`
	Node  string `json:"node,omitempty"`
	Key   string `json:"key,omitempty"`
	Value string `json:"value,omitempty"`
}

// State is everything known about one cluster.
type State struct {
	plan.Plan
	Dir          string            `json:"dir"`
	Kubeconfig   string            `json:"kubeconfig"`
	APIServerURL string            `json:"apiServerURL"`
	EtcdDataDir  string            `json:"etcdDataDir"`
	Ports        map[string]int    `json:"ports"`
	Processes    []Process         `json:"processes"`
	Images       map[string]string `json:"images"`
	// Registry is the cluster's OCI registry ("127.0.0.1:PORT", no auth):
	// the kubelet pulls every image not in Images from it.
	Registry    string  `json:"registry,omitempty"`
	RegistryDir string  `json:"registryDir,omitempty"`
	Faults      []Fault `json:"faults,omitempty"`
	Peers       []Peer  `json:"peers,omitempty"`
	Phase       string  `json:"phase"` // creating, ready, failed

	// PodSecurity is the --pod-security level ("" = the API server's default).
	PodSecurity string `json:"podSecurity,omitempty"`
	// NetworkPolicy names the NetworkPolicy engine (up --network-policy), "" = none.
	NetworkPolicy string `json:"networkPolicy,omitempty"`
	// Ingress names the Ingress controller and Gateway API implementation
	// (up --ingress), "" = none.
	Ingress string `json:"ingress,omitempty"`
}

// Peer is a link between this cluster's bridge and another cluster's bridge.
type Peer struct {
	Cluster string `json:"cluster"`
	Veth    string `json:"veth"` // our end on our bridge; deleting it removes both ends
}

// Dir returns the state directory of a cluster.
func Dir(name string) string { return filepath.Join(Root, name) }

func file(name string) string { return filepath.Join(Dir(name), "state.json") }

// ErrNotFound means the cluster has no state.
var ErrNotFound = errors.New("no such sandbox cluster")

// Load reads a cluster's state.
func Load(name string) (*State, error) {
	return LoadFile(file(name))
}

// LoadFile reads a state file.
func LoadFile(path string) (*State, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		name := filepath.Base(filepath.Dir(path))
		return nil, fmt.Errorf("cluster %q: %w (no %s)", name, ErrNotFound, path)
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", path, err)
	}
	return &s, nil
}

// Save writes the state atomically.
func (s *State) Save() error {
	if err := os.MkdirAll(Dir(s.Name), 0o700); err != nil {
		return fmt.Errorf("creating state dir: %w", err)
	}
	return writeJSON(file(s.Name), s)
}

// Process returns the PID of the named process (0 if unknown).
func (s *State) Process(name string) int {
	for _, p := range s.Processes {
		if p.Name == name {
			return p.PID
		}
	}
	return 0
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("renaming %s: %w", tmp, err)
	}
	return nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// Lock takes the machine-wide sandbox lock (slots, sysctls, peers) and
// returns its release function.
func Lock() (func(), error) {
	if err := os.MkdirAll(Root, 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", Root, err)
	}
	f, err := os.OpenFile(filepath.Join(Root, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", f.Name(), err)
	}
	return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

// Slots returns the persisted name -> slot table. Call with the lock held.
func Slots() (map[string]int, error) {
	m := map[string]int{}
	err := readJSON(filepath.Join(Root, "slots.json"), &m)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("reading slots: %w", err)
	}
	return m, nil
}

// AllocateSlot returns the slot of name, allocating the lowest free one.
// Call with the lock held.
func AllocateSlot(name string) (int, error) {
	m, err := Slots()
	if err != nil {
		return 0, err
	}
	if s, ok := m[name]; ok {
		return s, nil
	}
	used := map[int]bool{}
	for _, s := range m {
		used[s] = true
	}
	for s := 0; s < plan.MaxSlots; s++ {
		if !used[s] {
			m[name] = s
			return s, writeJSON(filepath.Join(Root, "slots.json"), m)
		}
	}
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return 0, fmt.Errorf("all %d sandbox slots are in use (%v): run `down` on one", plan.MaxSlots, names)
}

// ReleaseSlot forgets name's slot and reports how many clusters remain.
// Call with the lock held.
func ReleaseSlot(name string) (int, error) {
	m, err := Slots()
	if err != nil {
		return 0, err
	}
	delete(m, name)
	return len(m), writeJSON(filepath.Join(Root, "slots.json"), m)
}

// SavedSysctls reads the values saved before the first cluster raised them.
func SavedSysctls() (map[string]string, error) {
	m := map[string]string{}
	err := readJSON(filepath.Join(Root, "sysctl-saved.json"), &m)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return m, err
}

// SaveSysctls remembers original values (only if none are saved yet).
func SaveSysctls(m map[string]string) error {
	return writeJSON(filepath.Join(Root, "sysctl-saved.json"), m)
}

// ForgetSysctls removes the saved values after they were restored.
func ForgetSysctls() error {
	err := os.Remove(filepath.Join(Root, "sysctl-saved.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}
