package sdk_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/sshgress/sshgress/sdk"
)

// TestEdgeOwnedHeadersList checks the list's own rules: canonical names,
// prefixes ending in "-", and only CDN-Loop kept from visitors.
func TestEdgeOwnedHeadersList(t *testing.T) {
	list := sdk.EdgeOwnedHeaders()
	if len(list) == 0 {
		t.Fatal("EdgeOwnedHeaders() is empty")
	}
	seen := map[string]bool{}
	for _, h := range list {
		if got := http.CanonicalHeaderKey(h.Name); got != h.Name {
			t.Errorf("%q is not canonical (%q)", h.Name, got)
		}
		if h.Prefix != strings.HasSuffix(h.Name, "-") {
			t.Errorf("%q: Prefix = %v; a prefix, and only a prefix, ends in '-'", h.Name, h.Prefix)
		}
		if seen[h.Name] {
			t.Errorf("%q is listed twice", h.Name)
		}
		seen[h.Name] = true
		if h.Appended && h.Name != "Cdn-Loop" {
			t.Errorf("%q is Appended: only CDN-Loop keeps the visitor's values", h.Name)
		}
	}
	for _, name := range []string{"X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "Cdn-Loop", "X-Sshgress-"} {
		if !seen[name] {
			t.Errorf("%s is missing from EdgeOwnedHeaders", name)
		}
	}
	list[0].Name = "Accept"
	list[0].Appended = true
	if again := sdk.EdgeOwnedHeaders(); again[0].Name == "Accept" || again[0].Appended {
		t.Errorf("EdgeOwnedHeaders returned the list itself: a caller changed it to %+v", again[0])
	}
	if !sdk.StrippedFromVisitors("X-Forwarded-For") || sdk.StrippedFromVisitors("Accept") {
		t.Error("changing a returned list changed StrippedFromVisitors")
	}
}

// TestStrippedFromVisitorsMatchesList: every listed name is stripped in
// every spelling a framework may map to it, prefixes cover their family,
// and near misses are not.
func TestStrippedFromVisitorsMatchesList(t *testing.T) {
	for _, h := range sdk.EdgeOwnedHeaders() {
		names := []string{h.Name}
		if h.Prefix {
			names = []string{h.Name + "Anything", h.Name + "X"}
		}
		for _, n := range names {
			for _, spelling := range []string{n, strings.ToLower(n), strings.ToUpper(n), strings.ReplaceAll(n, "-", "_")} {
				if got, want := sdk.StrippedFromVisitors(spelling), !h.Appended; got != want {
					t.Errorf("StrippedFromVisitors(%q) = %v, want %v", spelling, got, want)
				}
			}
		}
	}
	for _, tc := range []struct {
		name string
		want bool
	}{
		{"x_sshgress_user-email", true},
		{"X-Forwarded", true},
		{"X-Original-Url", true},
		{"", false},
		{"X", false},
		{"Cdn-Loop", false},
		{"cdn_loop", false},
		{"X-Sshgress", false},
		{"X-Forwardedfor", false},
		{"X-Originals", false},
		{"Forwarded-For", false},
		{"X-Real-Ip-Not", false},
		{"Client-Ip2", false},
		{"Accept", false},
		{"Authorization", false},
		{"Cookie", false},
	} {
		if got := sdk.StrippedFromVisitors(tc.name); got != tc.want {
			t.Errorf("StrippedFromVisitors(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
	if n := testing.AllocsPerRun(100, func() {
		sdk.StrippedFromVisitors("x_forwarded_for")
		sdk.StrippedFromVisitors("Accept-Language")
	}); n != 0 {
		t.Errorf("StrippedFromVisitors allocates %v times per call", n)
	}
}
