// Package reachmon runs `netctl reach` rounds inside the monitor's
// pod-network agents on a schedule: each round puts the pod, ClusterIP and
// NodePort paths under load with the reach engine (internal/load, in
// process) and sends the per (path kind, family) counts and latency
// histograms to the server, which exports them to Prometheus.
package reachmon

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Schedule gives the start of each round.
type Schedule struct {
	text  string
	after time.Duration // "M N": first round M minutes after the start
	every time.Duration // "M N": then every N minutes
	cron  cron.Schedule // the cron form
}

// String is the schedule as written.
func (s Schedule) String() string { return s.text }

// ParseSchedule reads kdoctor's two schedule forms: "M N" (first round M
// minutes after the agent starts, then every N minutes; integers, M >= 0,
// N >= 1) and a standard 5-field cron line ("*/5 * * * *", in UTC). flag
// names the flag in errors.
func ParseSchedule(flag, text string) (Schedule, error) {
	fields := strings.Fields(text)
	switch len(fields) {
	case 2:
		m, errM := strconv.Atoi(fields[0])
		n, errN := strconv.Atoi(fields[1])
		switch {
		case errM != nil || m < 0:
			return Schedule{}, fmt.Errorf("%s: %q: the first field of \"M N\" (minutes before the first round) must be a whole number >= 0, got %q", flag, text, fields[0])
		case errN != nil || n < 1:
			return Schedule{}, fmt.Errorf("%s: %q: the second field of \"M N\" (minutes between rounds) must be a whole number >= 1, got %q", flag, text, fields[1])
		}
		return Schedule{text: text, after: time.Duration(m) * time.Minute, every: time.Duration(n) * time.Minute}, nil
	case 5:
		c, err := cron.ParseStandard(text)
		if err != nil {
			return Schedule{}, fmt.Errorf("%s: %q is not a valid cron line (minute hour day-of-month month day-of-week): %v", flag, text, err)
		}
		return Schedule{text: text, cron: c}, nil
	default:
		return Schedule{}, fmt.Errorf("%s: %q has %d fields: use \"M N\" (start after M minutes, then every N minutes) or a 5-field cron line such as \"*/5 * * * *\"", flag, text, len(fields))
	}
}

// First is the start of the first round of an agent started at start.
func (s Schedule) First(start time.Time) time.Time {
	if s.cron != nil {
		return s.cron.Next(start.UTC())
	}
	return start.Add(s.after)
}

// Next is the start of the round after the one that started at prev.
func (s Schedule) Next(prev time.Time) time.Time {
	if s.cron != nil {
		return s.cron.Next(prev.UTC())
	}
	return prev.Add(s.every)
}

// Loop calls round at every scheduled time until ctx ends. Rounds run one
// after the other: a scheduled time that passed while a round ran is skipped.
func Loop(ctx context.Context, s Schedule, round func(ctx context.Context)) {
	next := s.First(time.Now())
	for {
		timer := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		round(ctx)
		next = s.following(next, time.Now())
	}
}

// following is the first scheduled time after prev that is still ahead of now.
func (s Schedule) following(prev, now time.Time) time.Time {
	next := s.Next(prev)
	for !next.After(now) {
		next = s.Next(next)
	}
	return next
}
