package kubelet

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync"
)

// allocator hands out pod addresses from a node's pod CIDRs, one per CIDR.
// Allocations are written to a file on every change so that a restarted
// kubelet never gives a live pod's address to another pod.
type allocator struct {
	mu    sync.Mutex
	file  string
	cidrs []netip.Prefix
	owner map[netip.Addr]string // address -> pod UID
	next  []netip.Addr          // per CIDR: where the next search starts (round robin, so freed addresses are not reused at once)
}

type allocFile struct {
	IPs map[string]string `json:"ips"` // address -> pod UID
}

func newAllocator(file string, cidrs []netip.Prefix) (*allocator, error) {
	a := &allocator{file: file, cidrs: cidrs, owner: map[netip.Addr]string{}}
	for _, c := range cidrs {
		if c.Bits() > c.Addr().BitLen()-2 {
			return nil, fmt.Errorf("pod CIDR %s is too small", c)
		}
		a.next = append(a.next, firstHost(c))
	}
	data, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return a, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading IP allocations: %w", err)
	}
	var f allocFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("parsing IP allocations %s: %w", file, err)
	}
	for s, uid := range f.IPs {
		ip, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("parsing IP allocations %s: %w", file, err)
		}
		a.owner[ip] = uid
	}
	return a, nil
}

// firstHost is the first address pods may get: network address + 2 (the
// network address is not used and +1 is the node-side gateway).
func firstHost(c netip.Prefix) netip.Addr {
	return c.Masked().Addr().Next().Next()
}

// lastAddr is the broadcast address for IPv4 (never handed out) or the last
// address for IPv6.
func lastAddr(c netip.Prefix) netip.Addr {
	b := c.Masked().Addr().AsSlice()
	for i := c.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 1 << (7 - uint(i%8))
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// Allocate returns one address per CIDR for owner, the same ones if owner
// already holds them.
func (a *allocator) Allocate(owner string) ([]netip.Addr, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]netip.Addr, len(a.cidrs))
	changed := false
	for i, c := range a.cidrs {
		for ip, o := range a.owner {
			if o == owner && c.Contains(ip) {
				out[i] = ip
			}
		}
		if out[i].IsValid() {
			continue
		}
		ip, err := a.search(i)
		if err != nil {
			return nil, err
		}
		a.owner[ip] = owner
		out[i] = ip
		changed = true
	}
	if changed {
		if err := a.save(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// search finds a free address in CIDR i starting after the last one given.
// It looks at most at 65536 candidates (IPv6 /64s are never full).
func (a *allocator) search(i int) (netip.Addr, error) {
	c := a.cidrs[i]
	first, last := firstHost(c), lastAddr(c)
	ip := a.next[i]
	for n := 0; n < 65536; n++ {
		if !c.Contains(ip) || ip.Compare(first) < 0 || (ip.Is4() && ip == last) {
			ip = first
		}
		if _, used := a.owner[ip]; !used {
			a.next[i] = ip.Next()
			return ip, nil
		}
		ip = ip.Next()
	}
	return netip.Addr{}, fmt.Errorf("pod CIDR %s has no free address", c)
}

// Release frees every address owner holds.
func (a *allocator) Release(owner string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	changed := false
	for ip, o := range a.owner {
		if o == owner {
			delete(a.owner, ip)
			changed = true
		}
	}
	if !changed {
		return nil
	}
	return a.save()
}

// Retain frees the addresses of every owner not in live.
func (a *allocator) Retain(live map[string]bool) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	changed := false
	for ip, o := range a.owner {
		if !live[o] {
			delete(a.owner, ip)
			changed = true
		}
	}
	if !changed {
		return nil
	}
	return a.save()
}

func (a *allocator) save() error {
	f := allocFile{IPs: map[string]string{}}
	for ip, o := range a.owner {
		f.IPs[ip.String()] = o
	}
	data, err := json.Marshal(f)
	if err != nil {
		return err
	}
	tmp := a.file + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("saving IP allocations: %w", err)
	}
	if err := os.Rename(tmp, a.file); err != nil {
		return fmt.Errorf("saving IP allocations: %w", err)
	}
	return nil
}
