package server

import (
	"embed"
	"io"
	"io/fs"
	"net/http"

	ndreport "github.com/netdoctor/netdoctor/internal/report"
)

// web holds the monitor page: plain HTML, CSS and JavaScript, embedded so
// the page works in air-gapped clusters (nothing is fetched from elsewhere;
// the Content-Security-Policy forbids it).
//
//go:embed web
var web embed.FS

// pageCSP allows only this server as a source of anything.
const pageCSP = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// handlePage registers the page at / and its assets under /ui/.
func (s *Server) handlePage(mux *http.ServeMux) {
	sub, err := fs.Sub(web, "web")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	assets := http.StripPrefix("/ui/", http.FileServerFS(sub))
	mux.Handle("GET /ui/", pageHeaders(assets))
	// The matrix script and style are the HTML report's (package report).
	for name, a := range map[string]struct{ ctype, body string }{
		"matrix.js":  {"text/javascript; charset=utf-8", ndreport.MatrixJS},
		"matrix.css": {"text/css; charset=utf-8", ndreport.MatrixCSS},
	} {
		mux.Handle("GET /ui/"+name, pageHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", a.ctype)
			_, _ = io.WriteString(w, a.body)
		})))
	}
	mux.Handle("GET /{$}", pageHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, sub, "index.html")
	})))
}

func pageHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", pageCSP)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "no-cache")
		h.ServeHTTP(w, r)
	})
}
