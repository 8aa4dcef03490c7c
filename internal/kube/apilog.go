package kube

import (
	"fmt"
	"net/http"
	"os"
	"sync"
	"time"

	"k8s.io/client-go/rest"
)

// APILogEnv names a file that, when set, gets one line per API request
// netctl sends ("<unix nanoseconds> <method> <path>"): a debug aid the
// benchmark (test/bench -cli-cost) counts requests and their rate from.
const APILogEnv = "NETDOCTOR_API_LOG"

var apiLog struct {
	once sync.Once
	mu   sync.Mutex
	f    *os.File
}

// logRequests wraps cfg's transport with the request log when APILogEnv
// is set.
func logRequests(cfg *rest.Config) {
	path := os.Getenv(APILogEnv)
	if path == "" {
		return
	}
	apiLog.once.Do(func() {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", APILogEnv, err)
			return
		}
		apiLog.f = f
	})
	if apiLog.f == nil {
		return
	}
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
			apiLog.mu.Lock()
			fmt.Fprintf(apiLog.f, "%d %s %s\n", time.Now().UnixNano(), req.Method, req.URL.Path)
			apiLog.mu.Unlock()
			return rt.RoundTrip(req)
		})
	})
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }
