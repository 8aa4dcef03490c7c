package server

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/netdoctor/netdoctor/internal/monitor/api"
)

// maxReportBytes bounds a report body; a report with hundreds of peer
// results is well below it.
const maxReportBytes = 4 << 20

// Handler returns the server's HTTP API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+api.PathPing, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"response": "pong"})
	})
	mux.HandleFunc("GET /healthz", okHandler)
	mux.HandleFunc("GET /readyz", okHandler)
	mux.HandleFunc("POST "+api.PathAgents+"{name}", s.handleReport)
	mux.HandleFunc("POST "+api.PathReach+"{name}", s.handleReach)
	mux.HandleFunc("GET "+api.PathAgents+"{$}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Agents())
	})
	mux.HandleFunc("GET "+api.PathAgents+"{name}", func(w http.ResponseWriter, r *http.Request) {
		e, ok := s.Agent(r.PathValue("name"))
		if !ok {
			writeError(w, http.StatusNotFound, fmt.Sprintf("agent %q is unknown", r.PathValue("name")))
			return
		}
		writeJSON(w, http.StatusOK, e)
	})
	mux.HandleFunc("GET "+api.PathConnectivity, s.handleConnectivity)
	mux.HandleFunc("GET "+api.PathMatrix, func(w http.ResponseWriter, r *http.Request) {
		failing, _ := strconv.ParseBool(r.URL.Query().Get("failing"))
		history, _ := strconv.ParseBool(r.URL.Query().Get("history"))
		writeJSON(w, http.StatusOK, s.MatrixView(MatrixOptions{FailingOnly: failing, History: history}))
	})
	mux.HandleFunc("GET "+api.PathReach+"{$}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.ReachStatus())
	})
	mux.HandleFunc("GET "+api.PathFindings, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Findings())
	})
	s.handlePage(mux)
	mux.HandleFunc("GET "+api.PathPeers, func(w http.ResponseWriter, r *http.Request) {
		if !s.authorized(w, r) {
			return
		}
		writeJSON(w, http.StatusOK, s.Peers())
	})
	mux.HandleFunc("GET "+api.PathReachTargets, func(w http.ResponseWriter, r *http.Request) {
		if !s.authorized(w, r) {
			return
		}
		writeJSON(w, http.StatusOK, s.ReachTargets(r.Context()))
	})
	mux.Handle("GET "+api.PathMetrics, promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{}))
	return mux
}

func okHandler(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write([]byte("ok"))
}

// authorized checks the agent token; on failure it answers 401.
func (s *Server) authorized(w http.ResponseWriter, r *http.Request) bool {
	got := r.Header.Get(api.TokenHeader)
	if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(s.cfg.Token)) != 1 {
		writeError(w, http.StatusUnauthorized, "missing or wrong "+api.TokenHeader+" header")
		return false
	}
	return true
}

func (s *Server) handleReport(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	var rep api.Report
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxReportBytes))
	if err := dec.Decode(&rep); err != nil {
		writeError(w, http.StatusBadRequest, "report is not valid JSON: "+err.Error())
		return
	}
	if err := s.Record(r.PathValue("name"), rep); err != nil {
		status := http.StatusInternalServerError
		if errors.Is(err, ErrBadReport) {
			status = http.StatusBadRequest
		}
		writeError(w, status, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"response": "ok"})
}

func (s *Server) handleReach(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	var rep api.ReachReport
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxReportBytes)).Decode(&rep); err != nil {
		writeError(w, http.StatusBadRequest, "reach report is not valid JSON: "+err.Error())
		return
	}
	if err := s.RecordReach(r.Context(), r.PathValue("name"), rep); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"response": "ok"})
}

func (s *Server) handleConnectivity(w http.ResponseWriter, _ *http.Request) {
	absent, outdated, pending, known := s.Connectivity()
	// A pending agent has never reported: to a client it is absent.
	never := append(absent, pending...)
	sort.Strings(never)
	switch {
	case len(never) == known:
		writeJSON(w, http.StatusBadRequest, api.ConnectivityProblem{
			Message: "no agent has reported yet", Absent: never, Outdated: outdated})
	case len(never) > 0 || len(outdated) > 0:
		msg := fmt.Sprintf("%d of %d agents are absent or outdated", len(never)+len(outdated), known)
		if len(pending) > 0 {
			msg += fmt.Sprintf(" (%d started less than one interval ago and may still report)", len(pending))
		}
		writeJSON(w, http.StatusBadRequest, api.ConnectivityProblem{Message: msg, Absent: never, Outdated: outdated})
	default:
		writeJSON(w, http.StatusOK, api.ConnectivityOK{
			Message: fmt.Sprintf("All %d agents successfully reported within the last 2 intervals", known)})
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
