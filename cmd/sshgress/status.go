package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/spf13/pflag"

	"github.com/sshgress/sshgress/core/admin"
)

const statusUsage = `Usage: sshgress status [flags]
One screen about a running edge, read from its admin listener (/metrics
and /readyz): uptime, readiness, SSH connections, tunnels by type,
requests and their rate, traffic, plugins, certificate expiry.
Flags: --config FILE --addr HOST:PORT --token-file FILE --token T
       (or SSHGRESS_ADMIN_TOKEN) --ca-file PEM --json
       --interval D   measure the request rate over D (default 1s; 0: totals only)
See docs/observability.md.
`

// maxStatusInterval bounds --interval: status is a glance, not a monitor.
const maxStatusInterval = time.Minute

// edgeStatus is what `sshgress status` shows (and prints with --json).
type edgeStatus struct {
	Admin        string            `json:"admin"`
	Ready        bool              `json:"ready"`
	NotReady     []string          `json:"not_ready"`
	Started      time.Time         `json:"started"`
	UptimeSecs   float64           `json:"uptime_seconds"`
	SSH          sshStatus         `json:"ssh"`
	Tunnels      map[string]int64  `json:"tunnels"`
	Requests     map[string]int64  `json:"requests_by_class"`
	RequestRate  *float64          `json:"requests_per_second,omitempty"`
	BytesIn      int64             `json:"bytes_in"`
	BytesOut     int64             `json:"bytes_out"`
	Plugins      []admin.Check     `json:"plugins"`
	Certificates map[string]string `json:"certificate_expiry"`
}

type sshStatus struct {
	Open     int64 `json:"open"`
	Accepted int64 `json:"accepted"`
	Refused  int64 `json:"refused"`
	LoginsOK int64 `json:"logins_ok"`
	LoginsNo int64 `json:"logins_failed"`
}

func runStatus(args []string, stdout, stderr io.Writer) int {
	const prog = "sshgress status"
	fs := pflag.NewFlagSet("status", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	conn := addAdminConnFlags(fs)
	interval := fs.Duration("interval", time.Second, "how long to measure the request rate over")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			fmt.Fprint(stdout, statusUsage)
			return 0
		}
		fmt.Fprintf(stderr, "%s: %v\n\n%s", prog, err, statusUsage)
		return 2
	}
	if fs.NArg() != 0 || *interval < 0 || *interval > maxStatusInterval {
		fmt.Fprintf(stderr, "%s: takes no arguments, and --interval between 0 and %v\n\n%s", prog, maxStatusInterval, statusUsage)
		return 2
	}
	cli, code := conn.open(prog, nil, stdout, stderr)
	if cli == nil {
		return code
	}
	if code := conn.readToken(cli, prog, stderr); code != 0 {
		return code
	}
	st, err := cli.status(*interval)
	if err != nil {
		fmt.Fprintln(stderr, prog+":", err)
		return 1
	}
	if cli.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(st); err != nil {
			return 1
		}
		return 0
	}
	if err := st.print(stdout, time.Now()); err != nil {
		return 1
	}
	return 0
}

// status reads /readyz and /metrics (twice, interval apart, for the rate).
func (c *adminCLI) status(interval time.Duration) (*edgeStatus, error) {
	resp, data, err := c.send("GET", admin.PathReadyz, nil)
	if err != nil {
		return nil, err
	}
	var ready admin.Readiness
	if (resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusServiceUnavailable) || json.Unmarshal(data, &ready) != nil {
		return nil, fmt.Errorf("%s%s answered %s, not a readiness report: is this an sshgress admin listener?", c.base, admin.PathReadyz, resp.Status)
	}
	first, err := c.scrape()
	if err != nil {
		return nil, err
	}
	st := &edgeStatus{Admin: c.base, Ready: ready.Ready, NotReady: ready.NotReady,
		Tunnels: map[string]int64{}, Requests: map[string]int64{}, Certificates: map[string]string{}}
	for _, ch := range ready.Checks {
		if strings.HasPrefix(ch.Name, "plugin ") {
			ch.Name = strings.TrimPrefix(ch.Name, "plugin ")
			st.Plugins = append(st.Plugins, ch)
		}
	}
	last := first
	if interval > 0 {
		time.Sleep(interval)
		if last, err = c.scrape(); err != nil {
			return nil, err
		}
		rate := (sum(last, "sshgress_visitor_requests_total") - sum(first, "sshgress_visitor_requests_total")) / interval.Seconds()
		st.RequestRate = &rate
	}
	if start := sum(last, "process_start_time_seconds"); start > 0 {
		sec, frac := math.Modf(start)
		st.Started = time.Unix(int64(sec), int64(frac*1e9)).UTC()
		st.UptimeSecs = time.Since(st.Started).Seconds()
	}
	st.SSH = sshStatus{
		Open:     int64(sum(last, "sshgress_ssh_connections")),
		Accepted: int64(sum(last, "sshgress_ssh_connections_accepted_total")),
		Refused:  int64(sum(last, "sshgress_ssh_connections_refused_total")),
		LoginsOK: int64(byLabel(last, "sshgress_ssh_authentications_total", "result")["ok"]),
		LoginsNo: int64(byLabel(last, "sshgress_ssh_authentications_total", "result")["failed"]),
	}
	for typ, n := range byLabel(last, "sshgress_tunnels", "type") {
		st.Tunnels[typ] = int64(n)
	}
	for class, n := range byLabel(last, "sshgress_http_requests_total", "class") {
		st.Requests[class] = int64(n)
	}
	st.BytesIn = int64(sum(last, "sshgress_tunnel_received_bytes_total"))
	st.BytesOut = int64(sum(last, "sshgress_tunnel_sent_bytes_total"))
	for name, at := range byLabel(last, "sshgress_certificate_expiry_timestamp_seconds", "name") {
		st.Certificates[name] = time.Unix(int64(at), 0).UTC().Format(time.RFC3339)
	}
	return st, nil
}

// scrape reads /metrics with the token.
func (c *adminCLI) scrape() (map[string]*dto.MetricFamily, error) {
	resp, data, err := c.send("GET", admin.PathMetrics, nil)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return nil, errors.New(e.Error)
		}
		return nil, fmt.Errorf("%s%s answered %s", c.base, admin.PathMetrics, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s%s: not Prometheus' text format: %w", c.base, admin.PathMetrics, err)
	}
	return fams, nil
}

// value is a counter's, gauge's or untyped sample's value.
func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return 0
}

// sum adds up every series of a family; 0 when it is absent.
func sum(fams map[string]*dto.MetricFamily, name string) float64 {
	var n float64
	if f := fams[name]; f != nil {
		for _, m := range f.Metric {
			n += value(m)
		}
	}
	return n
}

// byLabel sums a family's series by the value of one label.
func byLabel(fams map[string]*dto.MetricFamily, name, label string) map[string]float64 {
	out := map[string]float64{}
	if f := fams[name]; f != nil {
		for _, m := range f.Metric {
			for _, l := range m.Label {
				if l.GetName() == label {
					out[l.GetValue()] += value(m)
				}
			}
		}
	}
	return out
}

// print writes the one screen.
func (st *edgeStatus) print(w io.Writer, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	ready := "ready"
	if !st.Ready {
		ready = "NOT READY: " + strings.Join(st.NotReady, ", ")
	}
	fmt.Fprintf(tw, "Edge\t%s (%s)\n", st.Admin, ready)
	if !st.Started.IsZero() {
		fmt.Fprintf(tw, "Uptime\t%s (since %s)\n", time.Duration(st.UptimeSecs*float64(time.Second)).Round(time.Second), st.Started.Format("2006-01-02 15:04:05 UTC"))
	}
	fmt.Fprintf(tw, "SSH\t%d open; %d accepted, %d refused; logins %d ok, %d failed\n",
		st.SSH.Open, st.SSH.Accepted, st.SSH.Refused, st.SSH.LoginsOK, st.SSH.LoginsNo)
	fmt.Fprintf(tw, "Tunnels\t%s\n", counts(st.Tunnels, "none open"))
	req := counts(st.Requests, "none yet")
	if st.RequestRate != nil {
		req += fmt.Sprintf("; %.1f/s now", *st.RequestRate)
	}
	fmt.Fprintf(tw, "Requests\t%s\n", req)
	fmt.Fprintf(tw, "Traffic\t%s in, %s out\n", bytesText(st.BytesIn), bytesText(st.BytesOut))
	if len(st.Plugins) == 0 {
		fmt.Fprintf(tw, "Plugins\tnone enabled\n")
	}
	for i, p := range st.Plugins {
		label := ""
		if i == 0 {
			label = "Plugins"
		}
		fmt.Fprintf(tw, "%s\t%s %s, %d restarts\n", label, p.Name, p.State, p.Restarts)
	}
	names := slices.Sorted(maps.Keys(st.Certificates))
	if len(names) == 0 {
		fmt.Fprintf(tw, "Certificates\tnone served yet\n")
	}
	for i, name := range names {
		label := ""
		if i == 0 {
			label = "Certificates"
		}
		at, _ := time.Parse(time.RFC3339, st.Certificates[name])
		fmt.Fprintf(tw, "%s\t%s expires %s (in %d days)\n", label, name, at.Format("2006-01-02"), int(at.Sub(now).Hours()/24))
	}
	return tw.Flush()
}

// counts writes "a 1, b 2" in key order, leaving out zeros, or none.
func counts(m map[string]int64, none string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if m[k] != 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
		}
	}
	if len(parts) == 0 {
		return none
	}
	return strings.Join(parts, ", ")
}

// bytesText is n in B, KiB, MiB or GiB.
func bytesText(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, suffix := float64(n), ""
	for _, s := range []string{"KiB", "MiB", "GiB", "TiB"} {
		v /= unit
		suffix = s
		if v < unit {
			break
		}
	}
	return fmt.Sprintf("%.1f %s", v, suffix)
}
