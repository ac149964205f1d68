package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The --compression rows: req/s for the backend's JSON page through a
// tunnel with the flag off and on (a browser's Accept-Encoding, for which
// the edge picks gzip; and Accept-Encoding: br), and the bytes on the wire
// with gzip and with brotli as a share of the plain page.
const (
	jsonPath = "/json"
	// browserAccept is what Chrome and Firefox send.
	browserAccept = "Accept-Encoding: gzip, deflate, br, zstd"
)

// compressTargets are the two tunnels of the --compression rows.
type compressTargets struct{ off, on *httpTarget }

// compressFigureDefs lists the --compression rows; c is the connections.
func compressFigureDefs(c string, size int) []figureDef {
	page := fmt.Sprintf("HTTP %d KiB JSON × %s, ", size>>10, c)
	return []figureDef{
		{key: "compress_off", name: page + "Accept-Encoding of a browser, --compression off", unit: "req/s", higher: true, want: []string{tGress}},
		{key: "compress_on", name: page + "--compression on (gzip)", unit: "req/s", higher: true, want: []string{tGress}},
		{key: "compress_on_br", name: page + "--compression on, Accept-Encoding: br", unit: "req/s", higher: true, want: []string{tGress}},
		{key: "compress_wire_gzip", name: "bytes on the wire, --compression, gzip: share of the plain page", unit: "%", want: []string{tGress}},
		{key: "compress_wire_br", name: "bytes on the wire, --compression, brotli: share of the plain page", unit: "%", want: []string{tGress}},
	}
}

// openCompress opens the off and on tunnels on ep and waits for each to
// answer; a failure is kept in the target, for its rows.
func (e *env) openCompress(ctx context.Context, ep *edgeProc) compressTargets {
	open := func(name string, cmd ...string) *httpTarget {
		g, err := e.startGressTunnel(ctx, name, ep, "", cmd...)
		if err != nil {
			return &httpTarget{name: tGress, err: err}
		}
		t := &httpTarget{name: tGress, base: fmt.Sprintf("http://127.0.0.1:%d", ep.httpPort), host: g.host, headers: []string{browserAccept}, edge: ep.p.pid(), client: g.c.p.pid()}
		if _, err := waitFor200(ctx, t.base+jsonPath, t.host, t.headers, nil, 15*time.Second); err != nil {
			t.err = err
		}
		return t
	}
	return compressTargets{off: open("ssh-compress-off", "http"), on: open("ssh-compress-on", "http", "--compression")}
}

// compressStep measures the --compression rows once.
func (e *env) compressStep(ctx context.Context, res *results, ct compressTargets, o options, i int) {
	for _, key := range rotate([]string{"compress_off", "compress_on", "compress_on_br"}, i) {
		t, headers := ct.off, []string{browserAccept}
		switch key {
		case "compress_on":
			t = ct.on
		case "compress_on_br":
			t, headers = ct.on, []string{"Accept-Encoding: br"}
		}
		if t.err != nil {
			res.fail(key, tGress, t.err)
			continue
		}
		r, err := e.runWrk(ctx, t.base+jsonPath, t.host, headers, o.conns, o.dur, t.roles())
		if err != nil {
			res.fail(key, tGress, err)
			continue
		}
		res.add(key, tGress, r.rps)
	}
	for _, c := range []string{"gzip", "br"} {
		key := "compress_wire_" + c
		if ct.on.err != nil {
			res.fail(key, tGress, ct.on.err)
			continue
		}
		share, err := wireShare(ctx, ct.on, c, len(e.back.json))
		if err != nil {
			res.fail(key, tGress, err)
			continue
		}
		res.add(key, tGress, share)
	}
}

// wireShare fetches the JSON page through t accepting coding alone, and
// returns its body's bytes on the wire as a percentage of plain bytes.
func wireShare(ctx context.Context, t *httpTarget, coding string, plain int) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.base+jsonPath, nil)
	if err != nil {
		return 0, err
	}
	req.Host = t.host
	req.Header.Set("Accept-Encoding", coding)
	tr := &http.Transport{DisableCompression: true, Proxy: nil}
	defer tr.CloseIdleConnections()
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return 0, fmt.Errorf("bench: %s page: %w", coding, err)
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, io.LimitReader(resp.Body, int64(plain)+1))
	if err != nil {
		return 0, fmt.Errorf("bench: %s page: %w", coding, err)
	}
	if got := resp.Header.Get("Content-Encoding"); resp.StatusCode != http.StatusOK || got != coding {
		return 0, fmt.Errorf("bench: %s page: status %d, Content-Encoding %q", coding, resp.StatusCode, got)
	}
	return 100 * float64(n) / float64(plain), nil
}

// compressRatio sets the on rows' ratios to on/off.
func compressRatio(r *Report) {
	var off *Figure
	var on []*Figure
	for _, f := range r.Figures {
		switch f.Key {
		case "compress_off":
			off = f
		case "compress_on", "compress_on_br":
			on = append(on, f)
		}
	}
	for _, f := range on {
		if off != nil && off.Values[tGress] != nil && f.Values[tGress] != nil {
			v := f.Values[tGress].Median / off.Values[tGress].Median
			f.Ratio, f.RatioOf = &v, "on/off"
		}
	}
}

// jsonPage builds the backend's JSON page of about size bytes: an API
// listing with repeated keys and varied values, as compressible as a
// typical one (not a run of one byte).
func jsonPage(size int) []byte {
	words := []string{"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"}
	var b strings.Builder
	b.WriteString(`{"items":[`)
	for i := 0; b.Len() < size-64; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":%d,"name":"%s-%s","score":%d.%02d,"active":%t,"tags":["%s"]}`,
			1000+i*7, words[i%10], words[(i*3+1)%10], (i*37)%1000, (i*11)%100, i%3 == 0, words[(i*7)%10])
	}
	b.WriteString(`],"next":"/api/items?cursor=` + strconv.Itoa(size) + `"}`)
	return []byte(b.String())
}
