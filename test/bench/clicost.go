package main

// The CLI's own cost at scale (`make bench-cli`, root): `netctl check` on one
// dual-stack sandbox cluster, cold (deploying the agents) then warm, for
// each netctl binary given (-before, then the one built here). Peak RSS is
// the process's maxrss from wait4; API requests come from the binary's
// NETDOCTOR_API_LOG (one line per request). The figures replace the
// cli-cost section of docs/PERFORMANCE.md and leave the rest alone.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type costRow struct {
	Binary, Run     string
	Pairs, NotOK    int
	Wall            time.Duration
	RSSMiB          float64
	Requests        int
	PerSec, PeakSec float64
	ByPath          string // the most frequent request kinds
	Err             string
}

func benchCLICost(bin, before, out, name string, nodes int) error {
	sandbox := filepath.Join(bin, "netdoctor-sandbox")
	netctl, _ := filepath.Abs(filepath.Join(bin, "netctl"))
	if o, err := cmd(15*time.Minute, "", sandbox, "up", "--name", name, "--nodes", strconv.Itoa(nodes), "--ip-family", "dual",
		"--netctl-binary", netctl); err != nil {
		cmd(5*time.Minute, "", sandbox, "down", "--name", name)
		return fmt.Errorf("sandbox up: %v: %s", err, lastLine(o))
	}
	defer cmd(5*time.Minute, "", sandbox, "down", "--name", name)
	o, err := cmd(time.Minute, "", sandbox, "status", "--name", name, "-o", "json")
	var st struct{ Kubeconfig, Registry string }
	if err != nil || json.Unmarshal([]byte(o), &st) != nil {
		return fmt.Errorf("sandbox status: %s", lastLine(o))
	}
	dir, _ := os.MkdirTemp("", "netdoctor-bench")
	defer os.RemoveAll(dir)
	if o, err := cmd(time.Minute, dir, netctl, "init"); err != nil {
		return fmt.Errorf("netctl init: %s", lastLine(o))
	}
	type binary struct{ label, path string }
	bins := []binary{{"this build", netctl}}
	if before != "" {
		bins = append([]binary{{"before (" + filepath.Base(before) + ")", before}}, bins...)
	}
	var rows []costRow
	for _, b := range bins {
		for _, run := range []string{"cold", "warm"} {
			r := runCost(b.path, dir, st.Kubeconfig, st.Registry)
			r.Binary, r.Run = b.label, run
			fmt.Fprintf(os.Stderr, "%+v\n", r)
			rows = append(rows, r)
		}
		// The next binary starts cold: remove the agents and wait for them to go.
		cmd(5*time.Minute, dir, b.path, "clean", "--kubeconfig", st.Kubeconfig)
		for i := 0; i < 120; i++ {
			o, _ := cmd(time.Minute, "", "kubectl", "--kubeconfig", st.Kubeconfig, "get", "pods", "-A", "-l", "app.kubernetes.io/name=netdoctor-agent", "-o", "name")
			if strings.TrimSpace(o) == "" {
				break
			}
			time.Sleep(time.Second)
		}
	}
	return replaceSection(out, "cli-cost", "CLI cost at scale", renderCost(rows, nodes))
}

// replaceSection replaces the <!-- marker ... --> ... <!-- /marker -->
// section of the file out with section, or appends it under heading.
func replaceSection(out, marker, heading, section string) error {
	old, err := os.ReadFile(out)
	if err != nil {
		return err
	}
	re := regexp.MustCompile(`(?s)<!-- ` + marker + `.*?<!-- /` + marker + ` -->`)
	var doc string
	if re.Match(old) {
		doc = re.ReplaceAllLiteralString(string(old), section)
	} else {
		doc = strings.TrimRight(string(old), "\n") + "\n\n## " + heading + "\n\n" + section + "\n"
	}
	return os.WriteFile(out, []byte(doc), 0o644)
}

// runCost runs one check and measures it.
func runCost(netctl, dir, kubeconfig, registry string) (r costRow) {
	logf := filepath.Join(dir, "api.log")
	os.Remove(logf)
	c := exec.Command(netctl, "check", "--kubeconfig", kubeconfig, "--mode", "pod", "--protocol", "tcp", "-o", "json",
		"--no-progress", "--image-repository", registry+"/netdoctor")
	c.Dir = dir
	c.Env = append(os.Environ(), "NETDOCTOR_API_LOG="+logf)
	start := time.Now()
	outb, err := c.Output()
	r.Wall = time.Since(start)
	if c.ProcessState == nil {
		r.Err = err.Error()
		return r
	}
	if ru, ok := c.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.RSSMiB = float64(ru.Maxrss) / 1024 // KiB on Linux
	}
	var rep struct {
		Rows []struct {
			Result string `json:"result"`
		} `json:"rows"`
	}
	if jerr := json.Unmarshal(outb, &rep); jerr != nil {
		r.Err = fmt.Sprintf("%v: %v", err, jerr)
		return r
	}
	r.Pairs = len(rep.Rows)
	for _, row := range rep.Rows {
		if row.Result != "SUCCEEDED" {
			r.NotOK++
		}
	}
	f, ferr := os.Open(logf)
	if ferr != nil {
		r.Err = "no API log: " + ferr.Error()
		return r
	}
	defer f.Close()
	perSec := map[int64]int{}
	kinds := map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 3 {
			continue
		}
		ns, _ := strconv.ParseInt(fields[0], 10, 64)
		r.Requests++
		perSec[ns/int64(time.Second)]++
		kinds[fields[1]+" "+requestKind(fields[2])]++
	}
	for _, n := range perSec {
		r.PeakSec = max(r.PeakSec, float64(n))
	}
	r.PerSec = float64(r.Requests) / r.Wall.Seconds()
	r.ByPath = topKinds(kinds, 3)
	return r
}

// requestKind shortens an API path to its resource ("pods", "pods/proxy").
func requestKind(path string) string {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case len(parts) >= 6 && parts[2] == "namespaces" && strings.HasSuffix(parts[len(parts)-1], "probe"):
		return parts[4] + "/proxy"
	case len(parts) >= 5 && parts[2] == "namespaces":
		return parts[4]
	case len(parts) >= 6 && parts[3] == "namespaces":
		return parts[5]
	case len(parts) >= 3:
		return parts[len(parts)-1]
	}
	return path
}

func topKinds(kinds map[string]int, n int) string {
	type kv struct {
		k string
		v int
	}
	var all []kv
	for k, v := range kinds {
		all = append(all, kv{k, v})
	}
	for i := range all {
		for j := i + 1; j < len(all); j++ {
			if all[j].v > all[i].v || (all[j].v == all[i].v && all[j].k < all[i].k) {
				all[i], all[j] = all[j], all[i]
			}
		}
	}
	var out []string
	for i := 0; i < len(all) && i < n; i++ {
		out = append(out, fmt.Sprintf("%s %d", all[i].k, all[i].v))
	}
	return strings.Join(out, ", ")
}

func renderCost(rows []costRow, nodes int) string {
	var b strings.Builder
	b.WriteString("<!-- cli-cost: written by `make bench-cli` (go run ./test/bench -cli-cost) -->\n")
	la, _ := os.ReadFile("/proc/loadavg")
	fmt.Fprintf(&b, "Machine: %s, %d CPUs, %s, kernel %s, %s, load average %s at the end (CPUs shared with other work). `netctl check --mode pod --protocol tcp`\n"+
		"on one %d-node dual-stack sandbox cluster, cold (deploys the agents) then warm, for each binary. Peak RSS: the\n"+
		"CLI process's maxrss (wait4). API requests: every request the CLI sent (NETDOCTOR_API_LOG), per second over\n"+
		"the whole check and in its busiest second.\n\n", cpuModel(), runtime.NumCPU(), memTotal(), kernel(), time.Now().UTC().Format("2006-01-02"), strings.Fields(string(la) + " ?")[0], nodes)
	b.WriteString("| netctl | run | pairs | not SUCCEEDED | check wall time | CLI peak RSS | API requests | requests/s (mean) | requests/s (busiest second) | most frequent |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		if r.Err != "" {
			fmt.Fprintf(&b, "| %s | %s | error: %s |\n", r.Binary, r.Run, strings.ReplaceAll(r.Err, "|", "/"))
			continue
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %s | %.0f MiB | %d | %.1f | %.0f | %s |\n", r.Binary, r.Run, r.Pairs, r.NotOK,
			d(r.Wall), r.RSSMiB, r.Requests, r.PerSec, r.PeakSec, r.ByPath)
	}
	b.WriteString("<!-- /cli-cost -->")
	return b.String()
}
