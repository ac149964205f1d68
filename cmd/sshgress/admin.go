package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"github.com/sshgress/sshgress/core/admin"
	"github.com/sshgress/sshgress/core/config"
)

const adminUsage = `Usage: sshgress admin [flags] COMMAND
  accounts list | add NAME | show NAME | delete NAME
  keys list ACCOUNT | add ACCOUNT FILE|- [--label L] | delete ACCOUNT ID
  reservations add|delete ACCOUNT (--domain D | --tcp ADDR)
  tunnels list | end ID
  invites create ACCOUNT [--ttl 24h]
  tokens create ACCOUNT
Flags: --config FILE --addr HOST:PORT --token-file FILE --token T
       (or SSHGRESS_ADMIN_TOKEN) --ca-file PEM --json
See docs/admin.md.
`

// adminTimeout bounds every request of the admin CLI.
const adminTimeout = 30 * time.Second

// maxAdminResponse bounds the response body the CLI reads.
const maxAdminResponse = 16 << 20

type adminCLI struct {
	base   string
	token  string
	client *http.Client
	json   bool
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// errUsage marks a usage error (exit 2).
var errUsage = errors.New("usage")

// adminConnFlags are the flags that say how to reach the admin listener
// and with which token: `sshgress admin` and `sshgress status` share them.
type adminConnFlags struct {
	cfgFile, addr, tokenFile, token, caFile *string
	jsonOut                                 *bool
}

func addAdminConnFlags(fs *pflag.FlagSet) *adminConnFlags {
	return &adminConnFlags{
		cfgFile:   fs.String("config", "", "config file of the edge (for admin.addr and admin.tokenCreatedfile)"),
		addr:      fs.String("addr", "", "admin API address (default admin.addr, 127.0.0.1:2280)"),
		tokenFile: fs.String("token-file", "", "operator token file (default the config's admin.tokenCreatedfile)"),
		token:     fs.String("token", "", "bearer token (default $SSHGRESS_ADMIN_TOKEN, then --token-file)"),
		caFile:    fs.String("ca-file", "", "PEM CA bundle for an https admin address"),
		jsonOut:   fs.Bool("json", false, "print the API's raw JSON"),
	}
}

func runAdmin(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("admin", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	conn := addAdminConnFlags(fs)
	label := fs.String("label", "", "label of a key added")
	domain := fs.String("domain", "", "domain to reserve or release")
	tcp := fs.String("tcp", "", "TCP address to reserve or release")
	ttl := fs.String("ttl", "24h", "how long an invite stays valid")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			fmt.Fprint(stdout, adminUsage)
			return 0
		}
		fmt.Fprintf(stderr, "sshgress admin: %v\n\n%s", err, adminUsage)
		return 2
	}
	cli, code := conn.open("sshgress admin", stdin, stdout, stderr)
	if cli == nil {
		return code
	}

	rest := fs.Args()
	if len(rest) < 2 {
		fmt.Fprintf(stderr, "sshgress admin: need a command\n\n%s", adminUsage)
		return 2
	}
	// Usage errors come before reading any secret.
	call, err := cli.route(rest, *label, *domain, *tcp, *ttl)
	if err != nil {
		fmt.Fprintf(stderr, "sshgress admin: %v\n\n%s", err, adminUsage)
		return 2
	}
	if code := conn.readToken(cli, "sshgress admin", stderr); code != 0 {
		return code
	}
	if err := call(); err != nil {
		fmt.Fprintln(stderr, "sshgress admin:", err)
		return 1
	}
	return 0
}

// open loads the config (if --config), works out the admin address and
// builds the CLI's bounded HTTP client. On failure it has printed why,
// prefixed with prog, and returns nil and the exit status.
func (f *adminConnFlags) open(prog string, stdin io.Reader, stdout, stderr io.Writer) (*adminCLI, int) {
	cfgFile, addr, tokenFile, caFile := f.cfgFile, f.addr, f.tokenFile, f.caFile
	cfg := config.Defaults()
	if *cfgFile != "" {
		cfs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
		cfs.SetOutput(io.Discard)
		config.RegisterFlags(cfs)
		if err := cfs.Parse([]string{"--config", *cfgFile}); err != nil {
			fmt.Fprintln(stderr, prog+":", err)
			return nil, 2
		}
		c, err := config.Load(cfs, nil)
		if err != nil {
			fmt.Fprintln(stderr, prog+":", err)
			return nil, 1
		}
		cfg = c
	}
	if *addr == "" {
		*addr = cfg.Admin.Addr
		if *addr == "" {
			*addr = "127.0.0.1:2280"
		}
	}
	if *tokenFile == "" {
		*tokenFile = cfg.AdminTokenPath()
	}
	cli := &adminCLI{json: *f.jsonOut, stdin: stdin, stdout: stdout, stderr: stderr}
	cli.base = *addr
	if !strings.Contains(cli.base, "://") {
		scheme := "http://"
		if *caFile != "" || cfg.Admin.CertFile != "" {
			scheme = "https://"
		}
		cli.base = scheme + cli.base
	}
	cli.base = strings.TrimRight(cli.base, "/")
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	if *caFile != "" {
		pem, err := os.ReadFile(*caFile)
		if err != nil {
			fmt.Fprintln(stderr, prog+": cannot read the CA file:", err)
			return nil, 1
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			fmt.Fprintf(stderr, "%s: %s holds no PEM certificate\n", prog, *caFile)
			return nil, 1
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	cli.client = &http.Client{Timeout: adminTimeout, Transport: tr}
	return cli, 0
}

// readToken sets cli's token from --token, $SSHGRESS_ADMIN_TOKEN or the
// token file, in that order; non-zero (after printing why) if none.
func (f *adminConnFlags) readToken(cli *adminCLI, prog string, stderr io.Writer) int {
	cli.token = *f.token
	if cli.token == "" {
		cli.token = os.Getenv("SSHGRESS_ADMIN_TOKEN")
	}
	if cli.token == "" {
		b, err := os.ReadFile(*f.tokenFile)
		if err != nil {
			fmt.Fprintf(stderr, "%s: cannot read the operator token (pass --token-file, --token or SSHGRESS_ADMIN_TOKEN): %v\n", prog, err)
			return 1
		}
		cli.token = strings.TrimSpace(string(b))
	}
	return 0
}

// route checks the arguments and returns the request to make.
func (c *adminCLI) route(a []string, label, domain, tcp, ttl string) (func() error, error) {
	n := func(want int) error {
		if len(a) != want {
			return fmt.Errorf("%s %s takes %d argument(s)", a[0], a[1], want-2)
		}
		return nil
	}
	p := url.PathEscape
	var (
		method, path string
		body         any
		print        func([]byte) error
		want         int
	)
	switch a[0] + " " + a[1] {
	case "accounts list":
		method, path, want, print = "GET", "/api/v1/accounts", 2, c.accounts
	case "accounts add":
		want = 3
		if len(a) == 3 {
			method, path, body, print = "POST", "/api/v1/accounts", map[string]string{"name": a[2]}, c.account
		}
	case "accounts show":
		want = 3
		if len(a) == 3 {
			method, path, print = "GET", "/api/v1/accounts/"+p(a[2]), c.account
		}
	case "accounts delete":
		want = 3
		if len(a) == 3 {
			method, path = "DELETE", "/api/v1/accounts/"+p(a[2])
		}
	case "keys list":
		want = 3
		if len(a) == 3 {
			method, path, print = "GET", "/api/v1/accounts/"+p(a[2])+"/keys", c.keys
		}
	case "keys add":
		want = 4
		if len(a) == 4 {
			line, err := c.readKey(a[3])
			if err != nil {
				return nil, err
			}
			method, path, print = "POST", "/api/v1/accounts/"+p(a[2])+"/keys", c.key
			body = map[string]string{"public_key": line, "label": label}
		}
	case "keys delete":
		want = 4
		if len(a) == 4 {
			method, path = "DELETE", "/api/v1/accounts/"+p(a[2])+"/keys/"+p(a[3])
		}
	case "reservations add", "reservations delete":
		want = 3
		if len(a) == 3 {
			method = "POST"
			if a[1] == "delete" {
				method = "DELETE"
			}
			switch {
			case (domain == "") == (tcp == ""):
				return nil, errors.New("reservations need exactly one of --domain and --tcp")
			case domain != "":
				path, body = "/api/v1/accounts/"+p(a[2])+"/domains", map[string]string{"domain": domain}
			default:
				path, body = "/api/v1/accounts/"+p(a[2])+"/tcp-addresses", map[string]string{"tcp_address": tcp}
			}
			print = c.reservation
		}
	case "tunnels list":
		method, path, want, print = "GET", "/api/v1/tunnels", 2, c.tunnels
	case "tunnels end":
		want = 3
		if len(a) == 3 {
			method, path = "DELETE", "/api/v1/tunnels/"+p(a[2])
		}
	case "invites create":
		want = 3
		if len(a) == 3 {
			method, path, print = "POST", "/api/v1/invites", c.invite
			body = map[string]string{"account": a[2], "ttl": ttl}
		}
	case "tokens create":
		want = 3
		if len(a) == 3 {
			method, path, print = "POST", "/api/v1/accounts/"+p(a[2])+"/tokens", c.tokenCreated
		}
	default:
		return nil, fmt.Errorf("unknown command %q", a[0]+" "+a[1])
	}
	if err := n(want); err != nil {
		return nil, err
	}
	return func() error { return c.do(method, path, body, print) }, nil
}

// send makes one request with the token, bounded by adminTimeout, and
// returns the response with up to maxAdminResponse bytes of its body.
func (c *adminCLI) send(method, path string, body any) (*http.Response, []byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot reach the admin API at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAdminResponse))
	if err != nil {
		return nil, nil, fmt.Errorf("reading the admin API's answer: %w", err)
	}
	return resp, data, nil
}

// readKey reads an authorized_keys line from file, or stdin for "-".
func (c *adminCLI) readKey(file string) (string, error) {
	var r io.Reader = c.stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return "", err
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, admin.MaxBodyBytes))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

func (c *adminCLI) do(method, path string, body any, print func([]byte) error) error {
	resp, data, err := c.send(method, path, body)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return errors.New(e.Error)
		}
		return fmt.Errorf("the admin API answered %s", resp.Status)
	}
	if c.json {
		if len(data) == 0 {
			data = []byte("{}\n")
		}
		_, err := c.stdout.Write(data)
		return err
	}
	if print == nil || len(bytes.TrimSpace(data)) == 0 {
		fmt.Fprintln(c.stdout, "done")
		return nil
	}
	return print(data)
}

func (c *adminCLI) table(header string, rows [][]string) error {
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func accountRow(a admin.Account) []string {
	return []string{a.Name, a.Source, fmt.Sprint(a.Keys), dash(strings.Join(a.Domains, ",")), dash(strings.Join(a.TCPAddresses, ","))}
}

const accountHeader = "NAME\tSOURCE\tKEYS\tDOMAINS\tTCP ADDRESSES"

func (c *adminCLI) accounts(data []byte) error {
	var as []admin.Account
	if err := json.Unmarshal(data, &as); err != nil {
		return err
	}
	rows := make([][]string, 0, len(as))
	for _, a := range as {
		rows = append(rows, accountRow(a))
	}
	return c.table(accountHeader, rows)
}

func (c *adminCLI) account(data []byte) error {
	var a admin.Account
	if err := json.Unmarshal(data, &a); err != nil {
		return err
	}
	return c.table(accountHeader, [][]string{accountRow(a)})
}

const keyHeader = "ID\tTYPE\tFINGERPRINT\tLABEL\tADDED\tLAST USED"

func keyRow(k admin.Key) []string {
	return []string{k.ID, k.Type, k.Fingerprint, dash(k.Label), when(k.Added), when(k.LastUsed)}
}

func (c *adminCLI) keys(data []byte) error {
	var ks []admin.Key
	if err := json.Unmarshal(data, &ks); err != nil {
		return err
	}
	rows := make([][]string, 0, len(ks))
	for _, k := range ks {
		rows = append(rows, keyRow(k))
	}
	return c.table(keyHeader, rows)
}

func (c *adminCLI) key(data []byte) error {
	var k admin.Key
	if err := json.Unmarshal(data, &k); err != nil {
		return err
	}
	return c.table(keyHeader, [][]string{keyRow(k)})
}

func (c *adminCLI) reservation(data []byte) error {
	var r struct {
		Domain     string `json:"domain"`
		TCPAddress string `json:"tcp_address"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return err
	}
	return c.table("DOMAIN\tTCP ADDRESS", [][]string{{dash(r.Domain), dash(r.TCPAddress)}})
}

func (c *adminCLI) tunnels(data []byte) error {
	var ts []admin.Tunnel
	if err := json.Unmarshal(data, &ts); err != nil {
		return err
	}
	rows := make([][]string, 0, len(ts))
	for _, t := range ts {
		rows = append(rows, []string{t.ID, t.Account, t.Type, t.URL, t.ClientAddr, when(t.Started),
			fmt.Sprint(t.Requests), fmt.Sprint(t.BytesIn), fmt.Sprint(t.BytesOut)})
	}
	return c.table("ID\tACCOUNT\tTYPE\tURL\tCLIENT\tSTARTED\tREQUESTS\tBYTES IN\tBYTES OUT", rows)
}

func (c *adminCLI) invite(data []byte) error {
	var v struct {
		Code    string    `json:"code"`
		Account string    `json:"account"`
		Expires time.Time `json:"expires"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	return c.table("CODE\tACCOUNT\tEXPIRES", [][]string{{v.Code, v.Account, when(v.Expires)}})
}

func (c *adminCLI) tokenCreated(data []byte) error {
	var v struct {
		Account string `json:"account"`
		Token   string `json:"token"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	return c.table("ACCOUNT\tTOKEN", [][]string{{v.Account, v.Token}})
}
