package reachmon

import (
	"strings"
	"testing"
	"time"
)

func TestParseScheduleMN(t *testing.T) {
	s, err := ParseSchedule("--reach-schedule", "2 5")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 1, 1, 10, 0, 30, 0, time.UTC)
	first := s.First(start)
	if want := start.Add(2 * time.Minute); !first.Equal(want) {
		t.Fatalf("first round at %s, want %s", first, want)
	}
	if second := s.Next(first); !second.Equal(first.Add(5 * time.Minute)) {
		t.Fatalf("second round at %s, want 5 minutes after %s", second, first)
	}
	s0, err := ParseSchedule("--reach-schedule", "0 1")
	if err != nil {
		t.Fatal(err)
	}
	if got := s0.First(start); !got.Equal(start) {
		t.Fatalf("\"0 1\": first round at %s, want at once (%s)", got, start)
	}
}

func TestParseScheduleCron(t *testing.T) {
	s, err := ParseSchedule("--reach-schedule", "*/5 * * * *")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 1, 1, 10, 2, 30, 0, time.UTC)
	first := s.First(start)
	if want := time.Date(2026, 1, 1, 10, 5, 0, 0, time.UTC); !first.Equal(want) {
		t.Fatalf("first round at %s, want %s", first, want)
	}
	if second := s.Next(first); !second.Equal(first.Add(5 * time.Minute)) {
		t.Fatalf("second round at %s", second)
	}
}

func TestParseScheduleBadInputNamesTheField(t *testing.T) {
	for text, want := range map[string]string{
		"":                 "has 0 fields",
		"5":                "has 1 fields",
		"1 2 3":            "has 3 fields",
		"x 5":              "first field",
		"-1 5":             "first field",
		"1 0":              "second field",
		"1 y":              "second field",
		"61 * * * *":       "not a valid cron line",
		"* * * * * *":      "has 6 fields",
		"*/5 * * * funday": "not a valid cron line",
	} {
		_, err := ParseSchedule("--reach-schedule", text)
		if err == nil {
			t.Errorf("%q: no error", text)
			continue
		}
		if !strings.HasPrefix(err.Error(), "--reach-schedule: ") || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %q should name --reach-schedule and say %q", text, err, want)
		}
	}
}

// A round that overran skips the times that passed; "0 N" (first round at
// once) moves on from its first round instead of repeating it.
func TestScheduleFollowingSkipsPassedTimes(t *testing.T) {
	start := time.Date(2026, 1, 1, 10, 0, 30, 0, time.UTC)
	for text, want := range map[string]time.Time{
		"0 1":         start.Add(3 * time.Minute),
		"*/1 * * * *": time.Date(2026, 1, 1, 10, 3, 0, 0, time.UTC),
	} {
		s, err := ParseSchedule("--reach-schedule", text)
		if err != nil {
			t.Fatal(err)
		}
		first := s.First(start)
		// The first round ran until 10:02:40.
		if got := s.following(first, start.Add(2*time.Minute+10*time.Second)); !got.Equal(want) {
			t.Errorf("%q: next round at %s, want %s", text, got, want)
		}
		if got := s.following(first, first); !got.After(first) {
			t.Errorf("%q: round after %s is %s, not later", text, first, got)
		}
	}
}
