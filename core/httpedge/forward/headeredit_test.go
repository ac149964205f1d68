package forward_test

import (
	"net/http"
	"reflect"
	"testing"

	"github.com/sshgress/sshgress/core/httpedge/forward"
	"github.com/sshgress/sshgress/sdk"
)

func TestHeaderEditApply(t *testing.T) {
	e := forward.NewHeaderEdit([]string{"referer", "X-Gone", "x-gone"},
		[]sdk.HeaderField{{Name: "x-env", Value: "staging"}, {Name: "Accept", Value: "text/plain"}, {Name: "Referer", Value: "edge"}})
	shared := []string{"text/html", "spare"}[:1] // spare capacity an append could write into
	h := http.Header{"Referer": {"https://visitor.example/"}, "X-Gone": {"1", "2"}, "Accept": shared, "Cookie": {"a=b"}}
	e.Apply(h)
	want := http.Header{"Referer": {"edge"}, "X-Env": {"staging"}, "Accept": {"text/html", "text/plain"}, "Cookie": {"a=b"}}
	if !reflect.DeepEqual(h, want) {
		t.Fatalf("after Apply: %v, want %v", h, want)
	}
	if full := shared[:2]; full[1] != "spare" {
		t.Errorf("Apply wrote into a shared value slice: %q", full)
	}
	removed, added := e.Names()
	if !reflect.DeepEqual(removed, []string{"Referer", "X-Gone"}) || !reflect.DeepEqual(added, []string{"X-Env", "Accept", "Referer"}) {
		t.Errorf("Names = %v, %v", removed, added)
	}
	var none *forward.HeaderEdit
	none.Apply(h) // nil edits nothing
	if forward.NewHeaderEdit(nil, nil) != nil {
		t.Error("NewHeaderEdit(nil, nil) is not nil")
	}
}

// TestUpstreamResponseEdit: the edit applies to every final response of
// the upstream, not to the pages Forward writes itself.
func TestUpstreamResponseEdit(t *testing.T) {
	e := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "dev-server/1.0")
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("X-Kept", "yes")
		w.WriteHeader(http.StatusTeapot)
	}, forward.Options{})
	e.u.SetResponseEdit(forward.NewHeaderEdit([]string{"Server"},
		[]sdk.HeaderField{{Name: "X-Frame-Options", Value: "DENY"}, {Name: "Cache-Control", Value: "no-transform"}}))
	for range 2 { // a pooled connection too
		status, _, h := get(t, e.srv.Client(), e.url("/"))
		if status != http.StatusTeapot {
			t.Fatalf("status %d, want 418", status)
		}
		if got := h.Values("Server"); len(got) != 0 {
			t.Errorf("Server = %q, want it removed", got)
		}
		if got := h.Get("X-Frame-Options"); got != "DENY" {
			t.Errorf("X-Frame-Options = %q, want DENY", got)
		}
		if got := h.Values("Cache-Control"); !reflect.DeepEqual(got, []string{"max-age=60", "no-transform"}) {
			t.Errorf("Cache-Control = %q, want the upstream's value and the added one", got)
		}
		if got := h.Get("X-Kept"); got != "yes" {
			t.Errorf("X-Kept = %q, want the upstream's header kept", got)
		}
	}

	down := newTestEdge(t, tcpDial("127.0.0.1:1"), forward.Options{})
	down.u.SetResponseEdit(forward.NewHeaderEdit(nil, []sdk.HeaderField{{Name: "X-Frame-Options", Value: "DENY"}}))
	status, _, h := get(t, down.srv.Client(), down.url("/"))
	if status != http.StatusBadGateway || h.Get("X-Frame-Options") != "" {
		t.Errorf("the edge's own 502 page: %d with X-Frame-Options %q, want 502 without the edit", status, h.Get("X-Frame-Options"))
	}
}

// TestUpstreamRequestHost: SetRequestHost replaces the Host the upstream
// gets; X-Forwarded-Host keeps the visitor's.
func TestUpstreamRequestHost(t *testing.T) {
	hosts := make(chan [2]string, 2)
	e := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		hosts <- [2]string{r.Host, r.Header.Get("X-Forwarded-Host")}
	}, forward.Options{})
	e.u.SetRequestHost("localhost:3000")
	get(t, e.srv.Client(), e.url("/"))
	if got := <-hosts; got[0] != "localhost:3000" || got[1] != e.srv.Listener.Addr().String() {
		t.Errorf("Host, X-Forwarded-Host = %q, want localhost:3000 and the edge's address", got)
	}
	e.u.SetRequestHost("")
	get(t, e.srv.Client(), e.url("/"))
	if got := <-hosts; got[0] != e.srv.Listener.Addr().String() {
		t.Errorf("Host = %q after SetRequestHost(\"\"), want the request's own", got[0])
	}
}
