package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/netdoctor/netdoctor/internal/monitor/api"
)

// snapshot is the state file. What it does not hold is lost on restart:
// histogram buckets (Prometheus sees a counter reset) and the roster (read
// again from the cluster at start).
type snapshot struct {
	Version int                     `json:"version"`
	Saved   time.Time               `json:"saved"`
	Agents  map[string]*agentRecord `json:"agents"`
	Pairs   []api.MatrixPair        `json:"pairs"`
}

const snapshotVersion = 1

// Save writes the state to the state file (atomically: temp file + rename)
// if one is configured and the state changed since the last save.
func (s *Server) Save() error {
	if s.cfg.StateFile == "" {
		return nil
	}
	s.mu.Lock()
	if !s.dirty {
		s.mu.Unlock()
		return nil
	}
	snap := snapshot{Version: snapshotVersion, Saved: s.now(), Agents: map[string]*agentRecord{}}
	for name, rec := range s.agents {
		c := *rec
		snap.Agents[name] = &c
	}
	for _, p := range s.pairs {
		snap.Pairs = append(snap.Pairs, *p)
	}
	data, err := json.Marshal(snap)
	s.dirty = false
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("encoding state: %w", err)
	}
	dir := filepath.Dir(s.cfg.StateFile)
	tmp, err := os.CreateTemp(dir, ".state-*.json")
	if err != nil {
		return fmt.Errorf("saving state to %s: %w", s.cfg.StateFile, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("saving state to %s: %w", s.cfg.StateFile, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("saving state to %s: %w", s.cfg.StateFile, err)
	}
	if err := os.Rename(tmp.Name(), s.cfg.StateFile); err != nil {
		return fmt.Errorf("saving state to %s: %w", s.cfg.StateFile, err)
	}
	return nil
}

// Load restores the state file, if configured and present, and rebuilds
// the metrics from it. Agents whose reports are older than the grace
// period are not restored. Call it before serving.
func (s *Server) Load() error {
	if s.cfg.StateFile == "" {
		return nil
	}
	data, err := os.ReadFile(s.cfg.StateFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading state file: %w", err)
	}
	var snap snapshot
	if err := json.Unmarshal(data, &snap); err != nil {
		return fmt.Errorf("state file %s is not valid (delete it to start fresh): %w", s.cfg.StateFile, err)
	}
	if snap.Version != snapshotVersion {
		return fmt.Errorf("state file %s has version %d, want %d (delete it to start fresh)", s.cfg.StateFile, snap.Version, snapshotVersion)
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, rec := range snap.Agents {
		if rec == nil || now.Sub(rec.Entry.LastUpdated) > s.cfg.Grace {
			continue
		}
		node := rec.Entry.NodeName
		s.agents[name] = rec
		s.metrics.touchAgent(name, node)
		s.metrics.reportCount.WithLabelValues(name, node).Add(rec.ReportCount)
		s.metrics.errorCount.WithLabelValues(name, node).Add(rec.ErrorCount)
		s.metrics.setReportGauges(name, &rec.Entry.Report)
	}
	for i := range snap.Pairs {
		p := snap.Pairs[i]
		if s.agents[p.Source] == nil {
			continue
		}
		s.pairs[keyOf(&p)] = &p
		s.metrics.setPair(&p)
	}
	return nil
}
