package oauth

import (
	"bytes"
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"github.com/sshgress/sshgress/sdk"
)

// pageTemplate renders every page the plugin shows. html/template escapes
// every value, provider-sent names and emails included.
var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
{{- if .Refresh}}<meta http-equiv="refresh" content="1">{{end}}
<title>{{.Title}}</title>
<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#222;line-height:1.5}a{color:#05c}</style>
</head><body>
<h1>{{.Title}}</h1>
{{range .Lines}}<p>{{.}}</p>
{{end}}{{range .Links}}<p><a href="{{.Href}}">{{.Text}}</a></p>
{{end}}</body></html>
`))

type pageData struct {
	Title   string
	Lines   []string
	Links   []pageLink
	Refresh bool
}

type pageLink struct{ Href, Text string }

func render(d pageData) []byte {
	var b bytes.Buffer
	if err := pageTemplate.Execute(&b, d); err != nil {
		return []byte(d.Title + "\n")
	}
	if b.Len() > sdk.MaxBodyBytes {
		return []byte(d.Title + "\n")
	}
	return b.Bytes()
}

// securityHeaders go on every response the plugin sends.
func securityHeaders() http.Header {
	return http.Header{
		"Cache-Control":          {"no-store"},
		"Referrer-Policy":        {"no-referrer"},
		"X-Content-Type-Options": {"nosniff"},
	}
}

// page answers with an HTML page.
func page(status int, body []byte) sdk.Verdict {
	h := securityHeaders()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	return sdk.Verdict{Respond: &sdk.Response{Status: status, Header: h, Body: body}}
}

// redirect answers 302 to location, setting the given cookies.
func redirect(location string, cookies ...string) sdk.Verdict {
	h := securityHeaders()
	h.Set("Location", location)
	if len(cookies) > 0 {
		h["Set-Cookie"] = cookies
	}
	return sdk.Verdict{Respond: &sdk.Response{Status: http.StatusFound, Header: h}}
}

// unauthorized answers a request that is not a page load.
func unauthorized(provider string) sdk.Verdict {
	h := securityHeaders()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	return sdk.Verdict{Respond: &sdk.Response{
		Status: http.StatusUnauthorized,
		Header: h,
		Body:   []byte("401 Unauthorized\n\nThis site requires signing in with " + providerTitle(provider) + " in a web browser.\n"),
	}}
}

// busy answers when the in-memory sign-in state is full.
func busy(retry string) sdk.Verdict {
	v := page(http.StatusServiceUnavailable, errorPage("Too many sign-ins", "Too many sign-ins are in progress. Try again in a moment.", retry))
	v.Respond.Header.Set("Retry-After", "5")
	return v
}

func errorPage(title, msg, retry string) []byte {
	d := pageData{Title: title, Lines: []string{msg}}
	if retry != "" {
		d.Links = []pageLink{{retry, "Try again"}}
	}
	return render(d)
}

func notFoundPage() []byte {
	return render(pageData{Title: "Not found", Lines: []string{"There is nothing here."}})
}

func waitPage() []byte {
	return render(pageData{Title: "Signing you in…", Lines: []string{"Checking your sign-in with the provider. This page reloads by itself."}, Refresh: true})
}

func logoutPage(host, provider string) []byte {
	return render(pageData{
		Title: "Signed out",
		Lines: []string{
			"You are signed out of " + host + ".",
			"You may still be signed in at " + provider + "; signing in here again may then need no password.",
		},
		Links: []pageLink{{"/", "Sign in again"}, {PathLogin + "?switch=1", "Sign in with another account"}},
	})
}

// deniedPage is the 403 for a signed-in visitor the rules do not admit. It
// names the email and says how to use another account.
func deniedPage(id identity, rules allowRules, origin, ret, provider string) sdk.Verdict {
	who := id.Email
	if who == "" {
		who = id.Name
	}
	lines := []string{"You are signed in as " + userText(who, 128) + "."}
	switch {
	case id.Email == "":
		lines = append(lines, "Your account has no email address this site can check.")
	case !id.EmailVerified:
		lines = append(lines, "Your email address is not verified by the sign-in provider, so this site cannot admit it.")
	default:
		lines = append(lines, "This site admits only "+strings.TrimPrefix(rules.describe(), "allowed: ")+".")
	}
	if provider == "" {
		provider = "the provider"
	}
	lines = append(lines, "To use another account, follow the link below and pick it, or sign out of "+provider+" first.")
	switchURL := origin + PathLogin + "?switch=1&rd=" + url.QueryEscape(SafeReturnPath(ret))
	v := page(http.StatusForbidden, render(pageData{
		Title: "Access denied",
		Lines: lines,
		Links: []pageLink{{switchURL, "Sign in with another account"}},
	}))
	return v
}

// providerTitle is a provider's name for people.
func providerTitle(name string) string {
	switch name {
	case "google":
		return "Google"
	case "github":
		return "GitHub"
	case "microsoft":
		return "Microsoft"
	case "gitlab":
		return "GitLab"
	}
	return name
}
