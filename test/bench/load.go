package main

// The load engine's figures (`make bench-load`, no root, no sandbox): two
// `netctl agent` processes on loopback, one serving /echo and one running
// POST /v1/load against it, measured from /proc. They replace the
// load-engine section of docs/PERFORMANCE.md and leave the rest alone.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/netdoctor/netdoctor/internal/agent"
	"github.com/netdoctor/netdoctor/internal/load"
)

const benchToken = "bench-token"

// agentProc is one `netctl agent` started by the bench.
type agentProc struct {
	cmd       *exec.Cmd
	data, api int
}

// startAgent starts netctl agent on free loopback ports, pinned to cpu
// (taskset) with GOMAXPROCS procs when procs > 0.
func startAgent(netctl, dir, name, cpu string, procs int) (*agentProc, error) {
	data, api := freePort(), freePort()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(benchToken), 0o600); err != nil {
		return nil, err
	}
	args := []string{netctl, "agent", "--port", strconv.Itoa(data), "--api-port", strconv.Itoa(api),
		"--token-file", tokenFile, "--node", name + "-node", "--pod", name + "-pod"}
	if cpu != "" {
		args = append([]string{"taskset", "-c", cpu}, args...)
	}
	c := exec.Command(args[0], args[1:]...)
	c.Env = os.Environ()
	if procs > 0 {
		c.Env = append(c.Env, "GOMAXPROCS="+strconv.Itoa(procs))
	}
	if err := c.Start(); err != nil {
		return nil, err
	}
	a := &agentProc{cmd: c, data: data, api: api}
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if resp, err := http.Get(a.apiURL() + agent.ReadyzPath); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return a, nil
			}
		}
	}
	a.stop()
	return nil, fmt.Errorf("agent %s not ready within 20 s", name)
}

func (a *agentProc) apiURL() string { return "http://127.0.0.1:" + strconv.Itoa(a.api) }
func (a *agentProc) echoURL() string {
	return "http://127.0.0.1:" + strconv.Itoa(a.data) + agent.EchoPath
}

func (a *agentProc) stop() {
	a.cmd.Process.Kill()
	a.cmd.Wait()
}

// cpuTime is the CPU time the process has used (user + system).
func (a *agentProc) cpuTime() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", a.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64) // fields 14 and 15 of stat, in clock ticks (100/s)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// memKiB reads VmRSS or VmHWM (peak RSS) of the process.
func (a *agentProc) memKiB(field string) int64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", a.cmd.Process.Pid))
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, field+":") {
			kb, _ := strconv.ParseInt(strings.Fields(l)[1], 10, 64)
			return kb
		}
	}
	return 0
}

func freePort() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// rateRow is one load run at an asked rate.
type rateRow struct {
	Mode              string
	Asked             int
	Requests, OK      int64
	NotSent           int64
	Achieved          float64 // succeeded per second of the run
	CPU               time.Duration
	PerCPUSecond      float64 // succeeded per CPU-second of the load agent
	P50, P99          time.Duration
	Held              bool
	Targets           int
	Duration          time.Duration
	PeakRSS, EndRSS   int64 // KiB
	IdleRSS, IdleFile int64 // KiB, before the run
	PeakAnon, EndFile int64 // KiB
	Err               string
}

func runLoad(gen *agentProc, targets []load.Target, qps int, dur time.Duration, keepAlive bool) (r rateRow) {
	r.Asked, r.Duration, r.Targets = qps, dur, len(targets)
	r.Mode = "new connection per request"
	if keepAlive {
		r.Mode = "keep-alive"
	}
	req := load.Request{QPS: qps, Duration: dur, PerRequestTimeout: 2 * time.Second, KeepAlive: keepAlive, Targets: targets}
	cpu0 := gen.cpuTime()
	ctx, cancel := context.WithTimeout(context.Background(), dur+time.Minute)
	defer cancel()
	resp, err := agent.Load(ctx, http.DefaultClient, gen.apiURL(), benchToken, req)
	r.CPU = gen.cpuTime() - cpu0
	if err != nil {
		r.Err = err.Error()
		return r
	}
	lat := load.NewHistogram()
	for _, t := range resp.Results {
		r.Requests += t.Requests
		r.OK += t.Succeeded
		r.NotSent += t.Errors[load.ErrNotSent]
		lat.Merge(t.Latency)
	}
	r.Achieved = float64(r.OK) / dur.Seconds()
	r.PerCPUSecond = float64(r.OK) / r.CPU.Seconds()
	r.P50 = time.Duration(lat.Quantile(0.5)) * time.Microsecond
	r.P99 = time.Duration(lat.Quantile(0.99)) * time.Microsecond
	// Held: every due request sent and answered, p99 from the intended
	// time under 50 ms (an engine falling behind its schedule shows there).
	r.Held = r.Requests == int64(float64(qps)*dur.Seconds()) && float64(r.OK) >= 0.999*float64(r.Requests) && r.P99 < 50*time.Millisecond
	return r
}

// precisionRow compares the histogram's quantiles with exact ones.
type precisionRow struct {
	Source         string
	Samples        int
	Q              float64
	Exact, Hist    int64
	ErrorPercent   float64
	HistogramBytes int
}

func precision(source string, vals []int64) []precisionRow {
	h := load.NewHistogram()
	for _, v := range vals {
		h.Record(v)
	}
	sorted := slices.Clone(vals)
	slices.Sort(sorted)
	wire, _ := json.Marshal(h)
	var rows []precisionRow
	for _, q := range []float64{0.5, 0.99, 0.999} {
		exact := sorted[max(int(math.Ceil(q*float64(len(sorted)))), 1)-1]
		got := h.Quantile(q)
		rows = append(rows, precisionRow{Source: source, Samples: len(vals), Q: q, Exact: exact, Hist: got,
			ErrorPercent: 100 * math.Abs(float64(got-exact)) / float64(exact), HistogramBytes: len(wire)})
	}
	return rows
}

// loopbackLatencies times n sequential GETs of url exactly (microseconds).
func loopbackLatencies(url string, n int) []int64 {
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	out := make([]int64, 0, n)
	for range n {
		start := time.Now()
		resp, err := c.Get(url)
		if err != nil {
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		out = append(out, time.Since(start).Microseconds())
	}
	return out
}

// benchLoad measures the engine and writes its section into out.
func benchLoad(netctl, out string, rateDur, rssDur time.Duration) error {
	dir, err := os.MkdirTemp("", "loadbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	// The echo side gets the other CPU so that the load agent's core is its own.
	echo, err := startAgent(netctl, dir, "echo", "1", 0)
	if err != nil {
		return err
	}
	defer echo.stop()
	one := []load.Target{{ID: "echo", URL: echo.echoURL()}}
	la, _ := os.ReadFile("/proc/loadavg")
	loadAvg := strings.Join(strings.Fields(string(la))[:1], "")

	// Requests per second on one core: GOMAXPROCS=1 pinned to CPU 0, at
	// rates a shared core holds (their CPU per request is the engine's
	// cost, not the cost of falling behind) and at kdoctor's figure. Every
	// rate runs: on a shared machine a rate not held says more about the
	// neighbours than about the engine.
	var rates []rateRow
	for _, mode := range []struct {
		keepAlive bool
		rates     []int
	}{{true, []int{1000, 2000, 7570}}, {false, []int{1000, 2000, 7570}}} {
		gen, err := startAgent(netctl, dir, "gen", "0", 1)
		if err != nil {
			return err
		}
		for _, qps := range mode.rates {
			r := runLoad(gen, one, qps, rateDur, mode.keepAlive)
			fmt.Fprintf(os.Stderr, "%+v\n", r)
			rates = append(rates, r)
		}
		gen.stop()
	}

	// Memory: a normal agent (all CPUs) at 1,000 QPS over 50 targets, new
	// connections, for rssDur; RSS sampled every second. First against the
	// other agent's /echo, then against its own: in a cluster every agent
	// both loads the others and answers their load, in one process.
	mem, err := memoryRun(netctl, dir, func(*agentProc) string { return echo.echoURL() }, rssDur)
	if err != nil {
		return err
	}
	serving, err := memoryRun(netctl, dir, (*agentProc).echoURL, rssDur)
	if err != nil {
		return err
	}

	// Precision of the histogram: synthetic long-tailed latencies and real
	// loopback request latencies, each against exact sorted values.
	r := rand.New(rand.NewPCG(1, 2))
	synthetic := make([]int64, 1_000_000)
	for i := range synthetic {
		synthetic[i] = int64(math.Exp(r.NormFloat64()*1.2 + math.Log(1000)))
	}
	prec := append(precision("log-normal around 1 ms", synthetic), precision("loopback GET /echo, new connections", loopbackLatencies(echo.echoURL(), 20000))...)

	return replaceSection(out, "load-engine", "Load engine (netctl reach)", renderLoad(rates, mem, serving, prec, loadAvg))
}

// memoryRun starts a normal agent (all CPUs) and measures its RSS through a
// 1,000 QPS run over 50 targets at the URL echoURL gives for it.
func memoryRun(netctl, dir string, echoURL func(*agentProc) string, rssDur time.Duration) (rateRow, error) {
	gen, err := startAgent(netctl, dir, "gen", "", 0)
	if err != nil {
		return rateRow{}, err
	}
	defer gen.stop()
	var many []load.Target
	for i := range 50 {
		many = append(many, load.Target{ID: fmt.Sprintf("echo-%d", i), URL: echoURL(gen)})
	}
	idleRSS, idleFile := gen.memKiB("VmRSS"), gen.memKiB("RssFile")
	var peakSampled, peakAnon int64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stopSampling:
				return
			case <-time.After(time.Second):
				peakSampled = max(peakSampled, gen.memKiB("VmRSS"))
				peakAnon = max(peakAnon, gen.memKiB("RssAnon"))
			}
		}
	}()
	mem := runLoad(gen, many, 1000, rssDur, false)
	close(stopSampling)
	<-sampled
	mem.PeakRSS, mem.EndRSS = max(gen.memKiB("VmHWM"), peakSampled), gen.memKiB("VmRSS")
	mem.IdleRSS, mem.IdleFile, mem.PeakAnon, mem.EndFile = idleRSS, idleFile, peakAnon, gen.memKiB("RssFile")
	fmt.Fprintf(os.Stderr, "%+v\n", mem)
	return mem, nil
}

func renderLoad(rates []rateRow, mem, serving rateRow, prec []precisionRow, loadAvg string) string {
	var b strings.Builder
	b.WriteString("<!-- load-engine: written by `make bench-load` (go run ./test/bench -load) -->\n")
	fmt.Fprintf(&b, "Machine: %s, %d CPUs, %s, kernel %s, %s, load average %s when measured (the CPUs are\n"+
		"shared with other work). Two `netctl agent` processes on loopback: one serves `GET /echo` (pinned to CPU 1),\n"+
		"the other runs `POST /v1/load` against it. Figures from /proc of the load agent.\n\n",
		cpuModel(), runtime.NumCPU(), memTotal(), kernel(), time.Now().UTC().Format("2006-01-02"), loadAvg)
	b.WriteString("One core: the load agent with GOMAXPROCS=1 pinned to CPU 0. Requests per CPU-second = succeeded requests\n" +
		"divided by the CPU time (user + system) the load agent used: the rate one core sustains when the engine has\n" +
		"it to itself. It is the engine's own cost at a rate it holds; at a rate it does not hold (a core shared with\n" +
		"other work) it includes the cost of falling behind (queued and given-up requests, more connections).\n" +
		"Achieved QPS is wall-clock and counts only while the shared core was ours. Held = every due request sent\n" +
		"and answered and p99 (from the intended send time) under 50 ms.\n\n")
	b.WriteString("| connections | asked QPS | run | requests | succeeded | not sent | achieved QPS | load agent CPU | requests per CPU-second | p50 | p99 | held |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rates {
		if r.Err != "" {
			fmt.Fprintf(&b, "| %s | %d | error: %s |\n", r.Mode, r.Asked, strings.ReplaceAll(r.Err, "|", "/"))
			continue
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %d | %d | %d | %.0f | %s | %.0f | %s | %s | %v |\n", r.Mode, r.Asked, r.Duration,
			r.Requests, r.OK, r.NotSent, r.Achieved, r.CPU.Round(10*time.Millisecond), r.PerCPUSecond,
			r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond), yesNo(r.Held))
	}
	best := map[string]float64{}
	for _, r := range rates {
		best[r.Mode] = max(best[r.Mode], r.PerCPUSecond)
	}
	ka := best["keep-alive"]
	fmt.Fprintf(&b, "\nPer core (best requests per CPU-second): **%.0f with keep-alive** (target at least 7,570: %s), **%.0f with a new\n"+
		"connection per request**.\n", ka, metOrNot(ka >= 7570), best["new connection per request"])
	fmt.Fprintf(&b, "\nMemory: a normal agent (GOMAXPROCS = all CPUs) at 1,000 QPS over %d targets, a new connection per\n"+
		"request, for %s: %d requests, %d succeeded; peak RSS (VmHWM and 1 s samples) **%.1f MiB**, RSS at the end %.1f MiB\n"+
		"(target < 40 MiB: %s; kdoctor's agent: 50-100 MB). Of that, the netctl binary's own pages (RssFile, shared page\n"+
		"cache) are %.1f MiB; the idle agent before the run had %.1f MiB RSS (%.1f MiB of it binary pages); the run's\n"+
		"anonymous memory (heap, stacks, buffers) peaked at %.1f MiB; p99 latency %s. Memory grows with the requests in flight,\n"+
		"so a load agent short of CPU (its answers wait to be read) holds more.\n\n", mem.Targets, mem.Duration, mem.Requests, mem.OK,
		mib(mem.PeakRSS), mib(mem.EndRSS), metOrNot(mib(mem.PeakRSS) < 40), mib(mem.EndFile), mib(mem.IdleRSS), mib(mem.IdleFile), mib(mem.PeakAnon), mem.P99.Round(time.Millisecond))
	if mem.Err != "" {
		fmt.Fprintf(&b, "Memory run error: %s\n\n", mem.Err)
	}
	fmt.Fprintf(&b, "As in a cluster, where every agent both loads the others and answers their load: the same run with the\n"+
		"agent's own `GET /echo` as the 50 targets (1,000 QPS out and 1,000 QPS in, one process): %d requests, %d succeeded;\n"+
		"peak RSS **%.1f MiB**, RSS at the end %.1f MiB (target < 40 MiB: %s); anonymous memory peaked at %.1f MiB; p99 latency %s.\n\n",
		serving.Requests, serving.OK, mib(serving.PeakRSS), mib(serving.EndRSS), metOrNot(mib(serving.PeakRSS) < 40),
		mib(serving.PeakAnon), serving.P99.Round(time.Millisecond))
	if serving.Err != "" {
		fmt.Fprintf(&b, "Serving memory run error: %s\n\n", serving.Err)
	}
	b.WriteString("Histogram precision (quantile of the histogram vs the exact sorted value; the histogram's sparse JSON size):\n\n")
	b.WriteString("| samples | n | quantile | exact (us) | histogram (us) | error | histogram JSON |\n|---|---|---|---|---|---|---|\n")
	for _, p := range prec {
		fmt.Fprintf(&b, "| %s | %d | p%v | %d | %d | %.3f%% | %d B |\n", p.Source, p.Samples, p.Q*100, p.Exact, p.Hist, p.ErrorPercent, p.HistogramBytes)
	}
	b.WriteString("\nTargets (issue 13): at least 7,570 QPS on one core with keep-alive (kdoctor's published figure), agent RSS\n" +
		"under 40 MiB at 1,000 QPS for 60 s, percentiles within 1% of exact.\n<!-- /load-engine -->")
	return b.String()
}

func metOrNot(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

func mib(kib int64) float64 { return float64(kib) / 1024 }

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
