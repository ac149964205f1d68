package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
)

// Target names: the three ways a visitor reaches the backend.
const (
	tDirect = "direct"
	tSSHD   = "sshd"
	tGress  = "sshgress"
)

// allTargets is the column order of the table.
var allTargets = []string{tDirect, tSSHD, tGress}

// figureDef describes one row of the table.
type figureDef struct {
	key    string
	name   string
	unit   string
	higher bool     // higher is better
	want   []string // targets that must produce a number
	target string   // the target, as text
	// met checks the target against the row; nil when there is none.
	met func(f *Figure) bool
	// base, when set, is the key of the row this one is a ratio to
	// (sshgress medians, this row's over base's, measured in the same
	// run), labelled ratioOf; without it the ratio is sshgress/sshd.
	base, ratioOf string
}

// Stat summarises one figure for one target over the repetitions.
type Stat struct {
	Median  float64   `json:"median"`
	Min     float64   `json:"min"`
	Max     float64   `json:"max"`
	Samples []float64 `json:"samples"`
}

// Figure is one row of the result: every target's statistics, the ratio
// sshgress/sshd of the medians (for a row with a base, such as basic auth
// on: its sshgress median over the base row's, "on/off"), the target and
// whether it was met.
type Figure struct {
	Key      string           `json:"key"`
	Name     string           `json:"name"`
	Unit     string           `json:"unit"`
	Higher   bool             `json:"higher_is_better"`
	Values   map[string]*Stat `json:"values"`
	Ratio    *float64         `json:"ratio,omitempty"`
	RatioOf  string           `json:"ratio_of,omitempty"`
	Target   string           `json:"target,omitempty"`
	Met      *bool            `json:"met,omitempty"`
	Skipped  string           `json:"skipped,omitempty"`
	Errors   []string         `json:"errors,omitempty"`
	expected []string
}

// Report is the whole result.
type Report struct {
	Machine Machine   `json:"machine"`
	Command string    `json:"command"`
	Quick   bool      `json:"quick"`
	Reps    int       `json:"reps"`
	Figures []*Figure `json:"figures"`
}

// Machine describes where the run happened.
type Machine struct {
	CPUs    int    `json:"cpus"`
	CPU     string `json:"cpu"`
	Go      string `json:"go"`
	OpenSSH string `json:"openssh"`
	Kernel  string `json:"kernel"`
}

// results collects samples and errors while the run goes on.
type results struct {
	defs    []figureDef
	samples map[string]map[string][]float64
	errs    map[string][]string
	skipped map[string]string
}

func newResults(defs []figureDef) *results {
	return &results{defs: defs, samples: map[string]map[string][]float64{}, errs: map[string][]string{}, skipped: map[string]string{}}
}

// add records one sample; NaN and infinities are dropped.
func (r *results) add(key, target string, v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	m := r.samples[key]
	if m == nil {
		m = map[string][]float64{}
		r.samples[key] = m
	}
	m[target] = append(m[target], v)
}

// wants reports whether key is a figure of this report.
func (r *results) wants(key string) bool {
	for _, d := range r.defs {
		if d.key == key {
			return true
		}
	}
	return false
}

// fail records an error for a figure.
func (r *results) fail(key, target string, err error) {
	const maxErrs = 5
	if len(r.errs[key]) < maxErrs {
		r.errs[key] = append(r.errs[key], target+": "+err.Error())
	}
}

// skip marks a figure (or one target of it) as not measurable in this run.
func (r *results) skip(key, why string) { r.skipped[key] = why }

// summarise turns the samples into figures.
func (r *results) summarise() []*Figure {
	var out []*Figure
	for _, d := range r.defs {
		f := &Figure{Key: d.key, Name: d.name, Unit: d.unit, Higher: d.higher, Target: d.target,
			Values: map[string]*Stat{}, Errors: r.errs[d.key], Skipped: r.skipped[d.key], expected: d.want}
		for t, s := range r.samples[d.key] {
			f.Values[t] = stat(s)
		}
		switch {
		case d.base != "":
			if b, g := r.samples[d.base][tGress], f.Values[tGress]; len(b) > 0 && g != nil {
				if bm := stat(b).Median; bm != 0 {
					v := g.Median / bm
					f.Ratio, f.RatioOf = &v, d.ratioOf
				}
			}
		default:
			if s, g := f.Values[tSSHD], f.Values[tGress]; s != nil && g != nil && s.Median != 0 {
				v := g.Median / s.Median
				f.Ratio, f.RatioOf = &v, "sshgress/sshd"
			}
		}
		if d.met != nil && f.Skipped == "" {
			if ok, known := safeMet(d.met, f); known {
				f.Met = &ok
			}
		}
		out = append(out, f)
	}
	return out
}

// safeMet runs met only when the values it needs exist.
func safeMet(met func(*Figure) bool, f *Figure) (ok, known bool) {
	defer func() {
		if recover() != nil {
			ok, known = false, false
		}
	}()
	return met(f), true
}

// stat returns median, min and max of s.
func stat(s []float64) *Stat {
	c := append([]float64(nil), s...)
	sort.Float64s(c)
	med := c[len(c)/2]
	if len(c)%2 == 0 {
		med = (c[len(c)/2-1] + c[len(c)/2]) / 2
	}
	return &Stat{Median: med, Min: c[0], Max: c[len(c)-1], Samples: s}
}

// missing lists "figure/target" pairs that produced no number and were not
// skipped.
func (rep *Report) missing() []string {
	var out []string
	for _, f := range rep.Figures {
		if f.Skipped != "" {
			continue
		}
		for _, t := range f.expected {
			if f.Values[t] == nil {
				out = append(out, f.Key+"/"+t)
			}
		}
	}
	return out
}

// fmtNum prints v with sensible precision.
func fmtNum(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1000:
		return fmt.Sprintf("%.0f", v)
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func fmtStat(s *Stat) string {
	if s == nil {
		return "—"
	}
	if len(s.Samples) < 2 {
		return fmtNum(s.Median)
	}
	return fmt.Sprintf("%s (%s–%s)", fmtNum(s.Median), fmtNum(s.Min), fmtNum(s.Max))
}

// writeTable prints the Markdown table.
func (rep *Report) writeTable(w io.Writer) {
	fmt.Fprintf(w, "| figure | unit | direct | sshd + ssh -R | sshgress + ssh -R | ratio | target | met |\n")
	fmt.Fprintf(w, "|---|---|---|---|---|---|---|---|\n")
	for _, f := range rep.Figures {
		ratio := "—"
		if f.Ratio != nil {
			ratio = fmt.Sprintf("%.2f×", *f.Ratio)
			if f.RatioOf != "sshgress/sshd" {
				ratio += " " + f.RatioOf
			}
		}
		met := ""
		if f.Met != nil {
			met = "no"
			if *f.Met {
				met = "yes"
			}
		}
		cells := make([]string, 0, 3)
		for _, t := range allTargets {
			cells = append(cells, fmtStat(f.Values[t]))
		}
		if f.Skipped != "" {
			cells[2] = "skipped: " + f.Skipped
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", f.Name, f.Unit, cells[0], cells[1], cells[2], ratio, f.Target, met)
	}
	var errs []string
	for _, f := range rep.Figures {
		for _, e := range f.Errors {
			errs = append(errs, fmt.Sprintf("- %s: %s", f.Key, oneLine(e)))
		}
	}
	if len(errs) > 0 {
		fmt.Fprintf(w, "\nErrors:\n%s\n", strings.Join(errs, "\n"))
	}
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " | ")
	if len(s) > 400 {
		s = s[:400] + "…"
	}
	return s
}

// writeJSON prints the report as one JSON line.
func (rep *Report) writeJSON(w io.Writer) error {
	b, err := json.Marshal(rep)
	if err != nil {
		return fmt.Errorf("bench: json: %w", err)
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}
