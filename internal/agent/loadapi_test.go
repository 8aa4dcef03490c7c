package agent

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/netdoctor/netdoctor/internal/load"
)

func TestEchoSaysWhoAnswered(t *testing.T) {
	srv := apiServer(t, testToken)
	for _, path := range []string{"/echo", "/echo/some/ingress/path"} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		req.Host = "reach.example"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var got struct{ Node, Pod, PodIP, ClientAddr, Host, Path string }
		err = json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got.Node != "node-1" || got.Pod != "agent-abc" || got.PodIP != "127.0.0.1" || got.Host != "reach.example" ||
			got.Path != path || !strings.HasPrefix(got.ClientAddr, "127.0.0.1:") {
			t.Errorf("GET %s: %+v", path, got)
		}
	}
}

func TestLoadRunsThroughTheControlAPI(t *testing.T) {
	srv := apiServer(t, testToken)
	req := load.Request{QPS: 100, Duration: 500 * time.Millisecond, PerRequestTimeout: time.Second,
		Targets: []load.Target{{ID: "self", URL: srv.URL + "/echo"}}}
	resp, err := Load(context.Background(), http.DefaultClient, srv.URL, testToken, req)
	if err != nil {
		t.Fatal(err)
	}
	r := resp.Results[0]
	if r.ID != "self" || r.Requests != 50 || r.Succeeded != 50 || r.Latency.Count() != 50 ||
		len(r.Backends) != 1 || r.Backends[0].Node != "node-1" || r.Backends[0].Count != 50 {
		t.Fatalf("result %+v", r)
	}

	// Wrong token, bad request: refused before anything runs.
	_, err = Load(context.Background(), http.DefaultClient, srv.URL, "wrong", req)
	var he *HTTPError
	if !errors.As(err, &he) || he.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong token: %v", err)
	}
	bad := req
	bad.QPS = load.MaxQPS + 1
	bad.Duration = 0
	_, err = Load(context.Background(), http.DefaultClient, srv.URL, testToken, bad)
	if !errors.As(err, &he) || he.StatusCode != http.StatusBadRequest || !strings.Contains(he.Body, "qps") || !strings.Contains(he.Body, "duration") {
		t.Fatalf("bad request: %v", err)
	}
}

func TestOneLoadRunAtATime(t *testing.T) {
	srv := apiServer(t, testToken)
	req := load.Request{QPS: 10, Duration: time.Second, PerRequestTimeout: time.Second,
		Targets: []load.Target{{ID: "self", URL: srv.URL + "/echo"}}}
	done := make(chan error, 1)
	go func() {
		_, err := Load(context.Background(), http.DefaultClient, srv.URL, testToken, req)
		done <- err
	}()
	time.Sleep(200 * time.Millisecond)
	body, _ := json.Marshal(req)
	hreq, _ := http.NewRequest(http.MethodPost, srv.URL+LoadPath, strings.NewReader(string(body)))
	hreq.Header.Set(TokenHeader, testToken)
	resp, err := http.DefaultClient.Do(hreq)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict {
		t.Errorf("second concurrent run: HTTP %d %s", resp.StatusCode, msg)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestKeepWritingSendsWhitespaceUntilStopped(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		stop := keepWriting(w, 10*time.Millisecond)
		time.Sleep(100 * time.Millisecond)
		stop()
		w.Write([]byte(`{"results":[]}`))
	}))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	newlines := strings.Count(string(body), "\n")
	var got struct{ Results []int }
	if newlines < 3 || json.Unmarshal(body, &got) != nil {
		t.Fatalf("body %q: want several newlines, then JSON that still decodes", body)
	}
}
