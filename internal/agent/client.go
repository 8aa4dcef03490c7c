package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/netdoctor/netdoctor/internal/probe"
)

// Doer sends HTTP requests: an *http.Client, for example one from
// client-go's rest.HTTPClientFor so requests carry the API server's auth.
type Doer interface {
	Do(*http.Request) (*http.Response, error)
}

// HTTPError is a non-200 answer from the probe API (or from the API server
// proxy in front of it). 401 means a wrong token, 503 an agent without one.
type HTTPError struct {
	StatusCode int
	Body       string // first line(s) of the answer, trimmed
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("agent probe API answered HTTP %d: %s", e.StatusCode, e.Body)
}

// StreamProbe posts req to the agent at baseURL (for example
// https://APISERVER/api/v1/namespaces/NS/pods/NAME:PORT/proxy) and calls
// onResult for each result as it arrives, in completion order. It returns
// nil once the agent has finished the batch; an error otherwise (the
// results already delivered stay valid: the caller can tell which target
// IDs are missing).
func StreamProbe(ctx context.Context, c Doer, baseURL, token string, req ProbeRequest, onResult func(probe.Result)) error {
	body, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("encoding probe request: %w", err)
	}
	url := strings.TrimSuffix(baseURL, "/") + ProbePath
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("building probe request for %s: %w", url, err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "application/x-ndjson")
	hreq.Header.Set(TokenHeader, token)
	resp, err := c.Do(hreq)
	if err != nil {
		return fmt.Errorf("posting probe batch to %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return &HTTPError{StatusCode: resp.StatusCode, Body: strings.TrimSpace(string(snippet))}
	}
	dec := json.NewDecoder(resp.Body)
	n := 0
	for {
		var r probe.Result
		err := dec.Decode(&r)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading probe results from %s after %d results: %w", url, n, err)
		}
		n++
		onResult(r)
	}
}
