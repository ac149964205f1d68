package dashboard

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sshgress/sshgress/core/usererr"
	"github.com/sshgress/sshgress/third_party/xcryptossh/ssh"
)

// memBackend is an in-memory Backend for the handler tests (the real store
// is another package's; these tests cover the dashboard's own logic).
type memBackend struct {
	mu       sync.Mutex
	accounts map[string]Account
	keys     map[string][]Key // by account
	tunnels  []Tunnel
	invites  []string
	tokens   int
	n        int
}

func newMem() *memBackend {
	return &memBackend{
		accounts: map[string]Account{
			"ann":  {Name: "ann", Domains: []string{"ann.example.org"}},
			"bob":  {Name: "bob", TCPAddresses: []string{"tcp.example.com:20001"}},
			"root": {Name: "root"},
		},
		keys: map[string][]Key{},
		tunnels: []Tunnel{
			{ID: "t-ann", Account: "ann", Type: "http", URL: "https://ann.example.org"},
			{ID: "t-bob", Account: "bob", Type: "tcp", URL: "tcp://tcp.example.com:20001"},
		},
	}
}

func (m *memBackend) Accounts() ([]Account, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Account
	for _, n := range []string{"ann", "bob", "root"} {
		if a, ok := m.accounts[n]; ok {
			out = append(out, a)
		}
	}
	return out, nil
}

func (m *memBackend) Account(name string) (Account, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.accounts[name]
	if !ok {
		return Account{}, ErrNotFound
	}
	return a, nil
}

func (m *memBackend) Keys(account string) ([]Key, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Key(nil), m.keys[account]...), nil
}

func (m *memBackend) AddKey(account, line, label string) (Key, error) {
	pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		return Key{}, usererr.New("That is not an SSH public key.")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	fp := ssh.FingerprintSHA256(pk)
	for owner, ks := range m.keys {
		for _, k := range ks {
			if k.Fingerprint == fp {
				return Key{}, usererr.Errorf("This key is already on account %s.", owner)
			}
		}
	}
	m.n++
	k := Key{ID: fmt.Sprint("k", m.n), Type: pk.Type(), Fingerprint: fp, Label: label, Added: time.Unix(0, 0)}
	m.keys[account] = append(m.keys[account], k)
	return k, nil
}

func (m *memBackend) DeleteKey(account, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, k := range m.keys[account] {
		if k.ID == id {
			m.keys[account] = append(m.keys[account][:i], m.keys[account][i+1:]...)
			return nil
		}
	}
	return ErrNotFound
}

func (m *memBackend) Tunnels(account string) ([]Tunnel, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Tunnel
	for _, t := range m.tunnels {
		if account == "" || t.Account == account {
			out = append(out, t)
		}
	}
	return out, nil
}

func (m *memBackend) CloseTunnel(account, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, t := range m.tunnels {
		if t.ID == id && (account == "" || t.Account == account) {
			m.tunnels = append(m.tunnels[:i], m.tunnels[i+1:]...)
			return nil
		}
	}
	return ErrNotFound
}

func (m *memBackend) CreateInvite(account string, ttl time.Duration) (string, error) {
	if _, err := m.Account(account); err != nil {
		return "", usererr.Errorf("There is no account %s.", account)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	code := fmt.Sprint("code-", len(m.invites))
	m.invites = append(m.invites, code)
	return code, nil
}

func (m *memBackend) CreateToken(account string) (string, error) {
	if _, err := m.Account(account); err != nil {
		return "", err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tokens++
	return fmt.Sprint("sgt_token-", m.tokens), nil
}

// clock is a test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type fixture struct {
	srv   *Server
	mem   *memBackend
	clock *clock
}

func newFixture(t *testing.T, mod ...func(*Options)) *fixture {
	t.Helper()
	f := &fixture{mem: newMem(), clock: &clock{t: time.Unix(1_800_000_000, 0)}}
	opts := Options{
		Backend:   f.mem,
		BaseURL:   "https://dashboard.example.com",
		SSHHost:   "example.com -p 2222",
		Operators: []string{"root"},
		Now:       f.clock.now,
	}
	for _, m := range mod {
		m(&opts)
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	f.srv = s
	return f
}

// do sends one request over "TLS" to the handler.
func (f *fixture) do(t *testing.T, method, target string, body io.Reader, hdr ...string) *http.Response {
	t.Helper()
	r := httptest.NewRequest(method, "https://dashboard.example.com"+target, body)
	r.TLS = &tls.ConnectionState{ServerName: "dashboard.example.com"}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Add(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	f.srv.ServeHTTP(w, r)
	return w.Result()
}

// signIn signs in as account with a one-time link and returns the cookie.
func (f *fixture) signIn(t *testing.T, account string) string {
	t.Helper()
	link, err := f.srv.MintLoginLink(account)
	if err != nil {
		t.Fatal(err)
	}
	res := f.do(t, "GET", strings.TrimPrefix(link, "https://dashboard.example.com"), nil)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("GET link: status %d, want 303", res.StatusCode)
	}
	for _, c := range res.Cookies() {
		if c.Name == CookieName {
			return CookieName + "=" + c.Value
		}
	}
	t.Fatal("no session cookie")
	return ""
}

func body(t *testing.T, res *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// home fetches the signed-in page and its CSRF token.
func (f *fixture) home(t *testing.T, cookie string) (string, string) {
	t.Helper()
	res := f.do(t, "GET", "/", nil, "Cookie", cookie)
	b := body(t, res)
	if res.StatusCode != 200 {
		t.Fatalf("GET /: %d\n%s", res.StatusCode, b)
	}
	m := csrfRE.FindStringSubmatch(b)
	if m == nil {
		t.Fatalf("no csrf field in\n%s", b)
	}
	return html.UnescapeString(b), m[1]
}

// post sends a form.
func (f *fixture) post(t *testing.T, cookie, path string, form url.Values) (*http.Response, string) {
	t.Helper()
	res := f.do(t, "POST", path, strings.NewReader(form.Encode()), "Cookie", cookie, "Content-Type", "application/x-www-form-urlencoded")
	return res, body(t, res)
}

func newPublicKey(t *testing.T, comment string) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pk))) + " " + comment
}
