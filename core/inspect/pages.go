package inspect

import (
	"bytes"
	"encoding/json"
	"html/template"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

type listPage struct {
	Tunnel    string
	Base      string
	Refresh   int
	Exchanges []*Exchange
}

type messagePage struct{ Title, Detail string }

type exchangePage struct {
	Tunnel     string
	Base       string
	CSRF       string
	Ex         *Exchange
	ReqHeader  []headerLine
	RespHeader []headerLine
	ReqBody    shownBody
	RespBody   shownBody
	// EditHeader and EditBody fill the edit form.
	EditHeader string
	EditBody   string
}

type headerLine struct{ Name, Value string }

// shownBody is a body as the page shows it.
type shownBody struct {
	Text      string
	Kind      string // "JSON", "form", "text", "binary" or ""
	Len       int64
	Truncated bool
}

func newExchangePage(t *Tunnel, ex *Exchange) exchangePage {
	p := exchangePage{
		Tunnel: t.url, Base: pagesPath + t.id, CSRF: t.csrf(), Ex: ex,
		ReqHeader: headerLines(ex.Header), RespHeader: headerLines(ex.RespHeader),
		ReqBody: showBody(ex.Body, ex.Header.Get("Content-Type")), RespBody: showBody(ex.RespBody, ex.RespHeader.Get("Content-Type")),
	}
	var b strings.Builder
	for _, l := range headerLines(replayHeader(ex.Header)) {
		b.WriteString(l.Name + ": " + l.Value + "\n")
	}
	p.EditHeader = b.String()
	if utf8.Valid(ex.Body.Data) {
		p.EditBody = string(ex.Body.Data)
	}
	return p
}

func headerLines(h http.Header) []headerLine {
	var out []headerLine
	for _, k := range slices.Sorted(maps.Keys(h)) {
		for _, v := range h[k] {
			out = append(out, headerLine{k, v})
		}
	}
	return out
}

// showBody pretty-prints a JSON or form body; other text is shown as it
// is, anything else as its length.
func showBody(b Body, contentType string) shownBody {
	s := shownBody{Len: b.Len, Truncated: b.Truncated()}
	if b.Len == 0 {
		return s
	}
	ct := strings.ToLower(strings.TrimSpace(strings.Split(contentType, ";")[0]))
	switch {
	case !s.Truncated && (ct == "application/json" || strings.HasSuffix(ct, "+json")):
		var out bytes.Buffer
		if json.Indent(&out, b.Data, "", "  ") == nil {
			s.Kind, s.Text = "JSON", out.String()
			return s
		}
	case !s.Truncated && ct == "application/x-www-form-urlencoded":
		if v, err := url.ParseQuery(string(b.Data)); err == nil {
			var out strings.Builder
			for _, k := range slices.Sorted(maps.Keys(v)) {
				for _, x := range v[k] {
					out.WriteString(k + " = " + x + "\n")
				}
			}
			s.Kind, s.Text = "form", out.String()
			return s
		}
	}
	if utf8.Valid(b.Data) || s.Truncated && utf8.Valid(trimPartialRune(b.Data)) {
		s.Kind, s.Text = "text", string(b.Data)
		return s
	}
	s.Kind = "binary"
	return s
}

// trimPartialRune drops a UTF-8 sequence cut by truncation at the end.
func trimPartialRune(p []byte) []byte {
	for i := 0; i < utf8.UTFMax && len(p) > 0; i++ {
		if utf8.Valid(p) {
			return p
		}
		p = p[:len(p)-1]
	}
	return p
}

var funcs = template.FuncMap{
	"ms": func(d time.Duration) string {
		return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 1, 64) + " ms"
	},
	"clock": func(t time.Time) string { return t.UTC().Format("15:04:05.000") },
	"status": func(n int) string {
		if n == 0 {
			return "—"
		}
		return strconv.Itoa(n)
	},
}

var pages = template.Must(template.New("").Funcs(funcs).Parse(`
{{define "head"}}<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="no-referrer"><link rel="stylesheet" href="/style.css">{{end}}

{{define "message"}}{{template "head"}}<title>{{.Title}} · sshgress inspector</title></head><body>
<h1>{{.Title}}</h1><p>{{.Detail}}</p></body></html>{{end}}

{{define "list"}}{{template "head"}}<meta http-equiv="refresh" content="{{.Refresh}}">
<title>Inspector · {{.Tunnel}}</title></head><body>
<h1>Inspector</h1><p class="tunnel">{{.Tunnel}}</p>
{{if .Exchanges}}<table id="exchanges"><thead><tr><th>Time</th><th>Method</th><th>Path</th><th>Status</th><th>Took</th><th>Visitor</th></tr></thead><tbody>
{{range .Exchanges}}<tr><td>{{clock .Start}}</td><td>{{.Method}}</td><td><a href="{{$.Base}}/x/{{.ID}}">{{.Target}}</a>{{if .Replayed}} <span class="tag">replay</span>{{end}}</td><td>{{status .Status}}</td><td>{{ms .Took}}</td><td>{{.Visitor}}</td></tr>
{{end}}</tbody></table>
{{else}}<p id="empty">No requests yet. This page reloads itself every {{.Refresh}} seconds.</p>{{end}}
</body></html>{{end}}

{{define "body"}}{{if .Len}}<p class="meta">{{.Len}} bytes{{if .Kind}}, {{.Kind}}{{end}}{{if .Truncated}}, truncated: the first 64 KiB are kept{{end}}</p>{{if ne .Kind "binary"}}<pre>{{.Text}}</pre>{{end}}{{else}}<p class="meta">No body.</p>{{end}}{{end}}

{{define "headers"}}<table class="headers">{{range .}}<tr><th>{{.Name}}</th><td>{{.Value}}</td></tr>{{end}}</table>{{end}}

{{define "exchange"}}{{template "head"}}<title>{{.Ex.Method}} {{.Ex.Target}} · sshgress inspector</title></head><body>
<p><a href="{{.Base}}/">← All requests</a></p>
<h1 id="line">{{.Ex.Method}} {{.Ex.Target}}{{if .Ex.Replayed}} <span class="tag">replay</span>{{end}}</h1>
<table class="facts">
<tr><th>Status</th><td id="status">{{status .Ex.Status}}</td></tr>
<tr><th>Started</th><td>{{clock .Ex.Start}} UTC</td></tr>
<tr><th>Took</th><td>{{ms .Ex.Took}}{{if .Ex.Upstream}} (your service: {{ms .Ex.Upstream}}){{end}}</td></tr>
<tr><th>Visitor</th><td>{{.Ex.Visitor}}</td></tr>
{{if .Ex.Verdict}}<tr><th>Middleware</th><td id="verdict">{{.Ex.Verdict}}</td></tr>{{end}}
</table>
{{if .Ex.HeadTruncated}}<p class="meta">Some header lines were left out: at most 64 KiB of each header is kept.</p>{{end}}
<h2>Request</h2>{{template "headers" .ReqHeader}}{{template "body" .ReqBody}}
<h2>Response</h2>{{template "headers" .RespHeader}}{{template "body" .RespBody}}
<h2>Replay</h2>
<p class="meta">Sends the request again through the tunnel to your service, marked with X-Sshgress-Replay: 1. Redacted headers (credentials, cookies, identity headers) are not sent.</p>
<form method="post" action="{{.Base}}/x/{{.Ex.ID}}/replay"><input type="hidden" name="csrf" value="{{.CSRF}}">
<button id="replay" type="submit">Replay</button></form>
<details><summary>Replay with changes</summary>
<form method="post" action="{{.Base}}/x/{{.Ex.ID}}/replay" class="edit"><input type="hidden" name="csrf" value="{{.CSRF}}"><input type="hidden" name="edited" value="1">
<label>Method <input name="method" value="{{.Ex.Method}}" size="8"></label>
<label>Path <input name="target" value="{{.Ex.Target}}" size="60"></label>
<label>Headers<textarea name="header_lines" rows="8">{{.EditHeader}}</textarea></label>
<label>Body<textarea name="body" rows="8">{{.EditBody}}</textarea></label>
<button id="replay-edited" type="submit">Replay edited</button></form></details>
</body></html>{{end}}
`))

func (s *Store) render(w http.ResponseWriter, status int, name string, data any) {
	var b bytes.Buffer
	if err := pages.ExecuteTemplate(&b, name, data); err != nil {
		http.Error(w, "inspector: page failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

const styleCSS = `body{font:15px/1.45 system-ui,sans-serif;margin:2em auto;max-width:70em;padding:0 1em;color:#222}
h1{font-size:1.3em;overflow-wrap:anywhere}h2{font-size:1.1em;margin-top:1.6em}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.2em .5em;border-bottom:1px solid #eee;vertical-align:top;overflow-wrap:anywhere}
table.headers th,table.facts th{width:14em;font-weight:600}
pre{background:#f5f5f5;padding:.6em;overflow:auto;max-height:30em}.meta,.tunnel{color:#666}
.tag{background:#e0ecff;border-radius:3px;padding:0 .3em;font-size:.85em}
form.edit label{display:block;margin:.4em 0}textarea{width:100%;font-family:monospace}
`
