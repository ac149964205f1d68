package compress

import (
	"strings"
)

// Coding is a content coding the edge can apply; Identity is none.
type Coding string

// The codings the edge offers.
const (
	Identity Coding = ""
	Gzip     Coding = "gzip"
	Brotli   Coding = "br"
)

// offered lists the codings in the edge's order of preference when the
// visitor weighs them equally: gzip first. At the speeds an edge can
// afford per response (writer.go), brotli made text no smaller than gzip
// for two to three times the CPU (measured on Go sources and Markdown,
// 64 KiB: gzip 30.6% and 38.0% of the plain size, brotli quality 4 30.2%
// and 37.8%); it wins only on very repetitive bodies. A visitor that
// prefers br by q-value, or accepts only br, gets br.
var offered = [...]Coding{Gzip, Brotli}

// maxAcceptElements bounds the elements of Accept-Encoding looked at; a
// visitor's header is already bounded by the listener's header limit,
// this keeps the work per request small whatever it sends.
const maxAcceptElements = 32

// Negotiate picks the coding for a visitor that sent the Accept-Encoding
// values accept (RFC 9110 12.5.3): the offered coding with the highest
// q-value above 0, ties going to the edge's preference (gzip, then br).
// "x-gzip" counts as gzip and "*" weighs every coding not named. No
// Accept-Encoding at all, an empty one, or an identity named with a
// higher q-value than the best coding gives Identity. An element with a
// malformed q-value is ignored. Names are case-insensitive.
func Negotiate(accept []string) Coding {
	if len(accept) == 0 {
		return Identity
	}
	var (
		q        [len(offered)]int // thousandths; -1 = not named
		star     = -1
		identity = -1
		seen     int
	)
	for i := range q {
		q[i] = -1
	}
	for _, v := range accept {
		for v != "" && seen < maxAcceptElements {
			var elem string
			elem, v, _ = strings.Cut(v, ",")
			name, params, _ := strings.Cut(elem, ";")
			name = strings.TrimSpace(name)
			if name == "" {
				continue
			}
			seen++
			w, ok := parseQ(params)
			if !ok {
				continue
			}
			switch {
			case name == "*":
				star = w
			case strings.EqualFold(name, "identity"):
				identity = w
			case strings.EqualFold(name, "x-gzip"):
				name = string(Gzip)
				fallthrough
			default:
				for i, c := range offered {
					if strings.EqualFold(name, string(c)) {
						q[i] = max(q[i], w)
					}
				}
			}
		}
	}
	best, bestQ := Identity, 0
	for i, c := range offered {
		w := q[i]
		if w < 0 {
			w = max(star, 0)
		}
		if w > bestQ {
			best, bestQ = c, w
		}
	}
	if best != Identity && identity > bestQ {
		return Identity
	}
	return best
}

// parseQ reads the q parameter of an element's parameters (";q=0.5"),
// in thousandths; 1000 when absent. ok is false for a malformed or
// out-of-range q (RFC 9110 12.4.2: "0" to "1" with up to three decimals).
func parseQ(params string) (q int, ok bool) {
	q = 1000
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		k, val, found := strings.Cut(strings.TrimSpace(p), "=")
		if !found || !strings.EqualFold(strings.TrimSpace(k), "q") {
			continue
		}
		return qValue(strings.TrimSpace(val))
	}
	return q, true
}

// qValue parses a qvalue: "0", "1", "0.", "1.000", "0.25".
func qValue(s string) (int, bool) {
	if s == "" || len(s) > 5 || (s[0] != '0' && s[0] != '1') {
		return 0, false
	}
	whole := int(s[0]-'0') * 1000
	if len(s) == 1 {
		return whole, true
	}
	if s[1] != '.' {
		return 0, false
	}
	frac, scale := 0, 100
	for _, c := range s[2:] {
		if c < '0' || c > '9' {
			return 0, false
		}
		frac += int(c-'0') * scale
		scale /= 10
	}
	if whole == 1000 && frac != 0 {
		return 0, false
	}
	return whole + frac, true
}
