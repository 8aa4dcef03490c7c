package config

import (
	"github.com/netdoctor/netdoctor/internal/version"
)

// Default values. They are what `netctl init` writes and what a field left
// out of config.json (or given as "") gets. docs/configuration.md lists them.
const (
	DefaultNamespace          = "netdoctor-system"
	DefaultMode               = "pod"
	DefaultProtocol           = "tcp"
	DefaultPodWaitTime        = 60 // seconds for all agents together; pulls on a cold node take a while
	DefaultPort               = Port("8889")
	DefaultMaxNum             = 20 // probes in flight per source agent; more adds only queueing inside the probe timers (docs/configuration.md)
	DefaultCmdTimeout         = 3  // seconds per probe; a healthy cluster answers in milliseconds
	DefaultImageRepository    = "ghcr.io/netdoctor"
	DefaultTargetHostToLookup = "kubernetes.default.svc.cluster.local"
	DefaultIPFamily           = "auto"
	DefaultPacketSize         = 1500
	// Agent resources: requests sized for maxNum probes in flight at once
	// (docs/configuration.md); no CPU limit by default.
	DefaultAgentCPURequest    = "50m"
	DefaultAgentMemoryRequest = "32Mi"
	DefaultAgentMemoryLimit   = "128Mi"
	DefaultNetworkPolicy      = "auto"
	DefaultAgentAccess        = "auto"
)

// Default returns a Config with every default set. Version is this binary's
// version, so the agents run exactly the code of the CLI that deploys them.
func Default() Config {
	return Config{
		Namespace:                DefaultNamespace,
		Version:                  version.Version,
		Mode:                     DefaultMode,
		Protocol:                 DefaultProtocol,
		PodWaitTime:              DefaultPodWaitTime,
		Port:                     DefaultPort,
		MaxNum:                   DefaultMaxNum,
		CmdTimeout:               DefaultCmdTimeout,
		SrcImageRepository:       DefaultImageRepository,
		TargetHostToLookup:       DefaultTargetHostToLookup,
		CustomizedTargetIPList:   []string{},
		CustomizedTargetPortList: []Port{},
		IPFamily:                 DefaultIPFamily,
		PacketSize:               DefaultPacketSize,
		AgentCPURequest:          DefaultAgentCPURequest,
		AgentMemoryRequest:       DefaultAgentMemoryRequest,
		AgentMemoryLimit:         DefaultAgentMemoryLimit,
		NetworkPolicy:            DefaultNetworkPolicy,
		AgentAccess:              DefaultAgentAccess,
	}
}

// fillEmpty gives fields written as "" (old files write every field, often
// empty) their default, so an empty string never reaches the cluster.
// Numbers are not filled: an explicit 0 is a mistake Validate reports.
func (c *Config) fillEmpty() {
	d := Default()
	for _, f := range []struct {
		v   *string
		def string
	}{
		{&c.Namespace, d.Namespace},
		{&c.Version, d.Version},
		{&c.Mode, d.Mode},
		{&c.Protocol, d.Protocol},
		{(*string)(&c.Port), string(d.Port)},
		{&c.SrcImageRepository, d.SrcImageRepository},
		{&c.TargetHostToLookup, d.TargetHostToLookup},
		{&c.IPFamily, d.IPFamily},
		{&c.AgentCPURequest, d.AgentCPURequest},
		{&c.AgentMemoryRequest, d.AgentMemoryRequest},
		{&c.AgentMemoryLimit, d.AgentMemoryLimit},
		{&c.NetworkPolicy, d.NetworkPolicy},
		{&c.AgentAccess, d.AgentAccess},
	} {
		if *f.v == "" {
			*f.v = f.def
		}
	}
	if c.DstImageRepository == "" {
		c.DstImageRepository = c.SrcImageRepository
	}
	if c.PacketSize == 0 {
		c.PacketSize = DefaultPacketSize
	}
	if c.CustomizedTargetIPList == nil {
		c.CustomizedTargetIPList = []string{}
	}
	if c.CustomizedTargetPortList == nil {
		c.CustomizedTargetPortList = []Port{}
	}
}
