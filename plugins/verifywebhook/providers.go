package verifywebhook

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sshgress/sshgress/sdk"
)

// signed is what a signature is checked over: the request (its headers
// and body), the tunnel's public URL, and the time now.
type signed struct {
	req *sdk.Request
	url string
	now time.Time
}

// verifier checks one provider's signature; its error is the reason for
// the owner's session, never a secret or an expected signature.
type verifier interface {
	verify(s signed) error
}

// provider is one --verify-webhook PROVIDER.
type provider struct {
	name  string // as typed, lowercase
	title string // for the banner and the session
	make  func(secret, header string) (verifier, error)
}

// hmacSHA256 is the generic provider's name.
const hmacSHA256 = "hmac-sha256"

// tolerance is how far a signed timestamp may be from now: five minutes,
// what Stripe, Slack and Svix document.
const tolerance = 5 * time.Minute

// providers are the schemes --verify-webhook knows, in the order --help
// lists them.
var providers = []*provider{
	{name: "github", title: "GitHub", make: func(secret, _ string) (verifier, error) {
		return bodyHMAC{key: []byte(secret), header: "X-Hub-Signature-256", prefix: "sha256=", encoding: hexOnly}, nil
	}},
	{name: "gitlab", title: "GitLab", make: func(secret, _ string) (verifier, error) {
		return gitlabToken{secret: []byte(secret)}, nil
	}},
	{name: "stripe", title: "Stripe", make: func(secret, _ string) (verifier, error) {
		return stripe{key: []byte(secret)}, nil
	}},
	{name: "slack", title: "Slack", make: func(secret, _ string) (verifier, error) {
		return slack{key: []byte(secret)}, nil
	}},
	{name: "twilio", title: "Twilio", make: func(secret, _ string) (verifier, error) {
		return twilio{key: []byte(secret)}, nil
	}},
	{name: "shopify", title: "Shopify", make: func(secret, _ string) (verifier, error) {
		return bodyHMAC{key: []byte(secret), header: "X-Shopify-Hmac-Sha256", encoding: base64Only}, nil
	}},
	{name: "svix", title: "Svix", make: newStandardWebhooks},
	{name: "standard-webhooks", title: "Standard Webhooks", make: newStandardWebhooks},
	{name: hmacSHA256, title: "HMAC-SHA256", make: func(secret, header string) (verifier, error) {
		return bodyHMAC{key: []byte(secret), header: header, prefix: "sha256=", optionalPrefix: true, encoding: hexOrBase64}, nil
	}},
}

// providerNames lists the names --verify-webhook takes.
func providerNames() []string {
	names := make([]string, len(providers))
	for i, p := range providers {
		names[i] = p.name
	}
	return names
}

// lookup returns the provider called name (any case), or nil.
func lookup(name string) *provider {
	i := slices.IndexFunc(providers, func(p *provider) bool { return strings.EqualFold(p.name, name) })
	if i < 0 {
		return nil
	}
	return providers[i]
}

// mac returns the HMAC of the parts under key.
func mac(h func() hash.Hash, key []byte, parts ...[]byte) []byte {
	m := hmac.New(h, key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

// encodings a signature header may use.
type encoding int

const (
	hexOnly encoding = iota
	base64Only
	hexOrBase64
)

// decode reads a signature in enc; false when it is neither.
func (enc encoding) decode(s string) ([]byte, bool) {
	if enc != base64Only {
		if b, err := hex.DecodeString(s); err == nil {
			return b, true
		}
	}
	if enc != hexOnly {
		if b, err := base64.StdEncoding.DecodeString(s); err == nil {
			return b, true
		}
	}
	return nil, false
}

var (
	errMismatch = errors.New("signature mismatch (a different secret, or the body changed on the way)")
)

// missing is the reason a signature header is absent.
func missing(header string) error { return fmt.Errorf("no %s header", header) }

// one returns the single value of header, or why there is none.
func one(req *sdk.Request, header string) (string, error) {
	v := req.Header.Values(header)
	switch len(v) {
	case 0:
		return "", missing(header)
	case 1:
		return strings.TrimSpace(v[0]), nil
	}
	return "", fmt.Errorf("%d %s headers, want one", len(v), header)
}

// checkTime refuses a signed Unix timestamp outside the tolerance.
func checkTime(ts string, now time.Time) error {
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("timestamp %q is not a Unix time", limit(ts))
	}
	d := now.Sub(time.Unix(sec, 0))
	if d > tolerance || d < -tolerance {
		return fmt.Errorf("timestamp %v off the edge's clock, outside the %v tolerance (a replay, or a clock to fix)", d.Round(time.Second), tolerance)
	}
	return nil
}

// limit shortens s for a reason line.
func limit(s string) string {
	if len(s) > 32 {
		return s[:32] + "…"
	}
	return s
}

// bodyHMAC is a signature over the body alone in one header (GitHub,
// Shopify, the generic HMAC-SHA256).
type bodyHMAC struct {
	key            []byte
	header, prefix string
	optionalPrefix bool
	encoding       encoding
}

func (v bodyHMAC) verify(s signed) error {
	got, err := one(s.req, v.header)
	if err != nil {
		return err
	}
	if v.prefix != "" {
		rest, ok := strings.CutPrefix(got, v.prefix)
		if !ok && !v.optionalPrefix {
			return fmt.Errorf("%s does not start with %q", v.header, v.prefix)
		}
		got = rest
	}
	sig, ok := v.encoding.decode(got)
	if !ok {
		return fmt.Errorf("%s is not a hex or base64 signature", v.header)
	}
	if !hmac.Equal(sig, mac(sha256.New, v.key, s.req.Body)) {
		return errMismatch
	}
	return nil
}

// gitlabToken is GitLab's X-Gitlab-Token: the secret itself, compared in
// constant time (GitLab signs nothing).
type gitlabToken struct{ secret []byte }

func (v gitlabToken) verify(s signed) error {
	got, err := one(s.req, "X-Gitlab-Token")
	if err != nil {
		return err
	}
	// Compare digests so the time taken says nothing of the length.
	a, b := sha256.Sum256([]byte(got)), sha256.Sum256(v.secret)
	if subtle.ConstantTimeCompare(a[:], b[:]) != 1 {
		return errors.New("X-Gitlab-Token does not match the secret")
	}
	return nil
}

// stripe is Stripe-Signature: t=TIMESTAMP,v1=HEX[,v1=HEX…] over
// "TIMESTAMP.BODY".
type stripe struct{ key []byte }

func (v stripe) verify(s signed) error {
	got, err := one(s.req, "Stripe-Signature")
	if err != nil {
		return err
	}
	var ts string
	var sigs [][]byte
	for _, part := range strings.Split(got, ",") {
		k, val, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = val
		case "v1":
			if b, err := hex.DecodeString(val); err == nil {
				sigs = append(sigs, b)
			}
		}
	}
	if ts == "" || len(sigs) == 0 {
		return errors.New("Stripe-Signature has no t= timestamp or no v1= signature")
	}
	if err := checkTime(ts, s.now); err != nil {
		return err
	}
	want := mac(sha256.New, v.key, []byte(ts), []byte("."), s.req.Body)
	for _, sig := range sigs {
		if hmac.Equal(sig, want) {
			return nil
		}
	}
	return errMismatch
}

// slack is X-Slack-Signature: v0=HEX over "v0:TIMESTAMP:BODY", with
// X-Slack-Request-Timestamp.
type slack struct{ key []byte }

func (v slack) verify(s signed) error {
	ts, err := one(s.req, "X-Slack-Request-Timestamp")
	if err != nil {
		return err
	}
	got, err := one(s.req, "X-Slack-Signature")
	if err != nil {
		return err
	}
	hexSig, ok := strings.CutPrefix(got, "v0=")
	if !ok {
		return errors.New(`X-Slack-Signature does not start with "v0="`)
	}
	sig, err := hex.DecodeString(hexSig)
	if err != nil {
		return errors.New("X-Slack-Signature is not hex")
	}
	if err := checkTime(ts, s.now); err != nil {
		return err
	}
	if !hmac.Equal(sig, mac(sha256.New, v.key, []byte("v0:"+ts+":"), s.req.Body)) {
		return errMismatch
	}
	return nil
}

// twilio is X-Twilio-Signature: base64 HMAC-SHA1, under the auth token,
// of the full URL Twilio called followed, for a form body, by each
// parameter's name and value sorted by name; a JSON body is covered
// instead by the URL's bodySHA256 parameter (hex SHA-256 of the body).
// Twilio signs no timestamp.
type twilio struct{ key []byte }

func (v twilio) verify(s signed) error {
	got, err := one(s.req, "X-Twilio-Signature")
	if err != nil {
		return err
	}
	sig, err := base64.StdEncoding.DecodeString(got)
	if err != nil {
		return errors.New("X-Twilio-Signature is not base64")
	}
	u := s.url + s.req.Path
	if s.req.RawQuery != "" {
		u += "?" + s.req.RawQuery
	}
	data := []byte(u)
	query, _ := url.ParseQuery(s.req.RawQuery)
	if want := query.Get("bodySHA256"); want != "" {
		sum := sha256.Sum256(s.req.Body)
		if subtle.ConstantTimeCompare([]byte(strings.ToLower(want)), []byte(hex.EncodeToString(sum[:]))) != 1 {
			return errors.New("the body's SHA-256 differs from the URL's bodySHA256")
		}
	} else if strings.HasPrefix(s.req.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		form, err := url.ParseQuery(string(s.req.Body))
		if err != nil {
			return errors.New("the form body does not parse")
		}
		keys := make([]string, 0, len(form))
		for k := range form {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			for _, val := range form[k] {
				data = append(data, k...)
				data = append(data, val...)
			}
		}
	}
	if !hmac.Equal(sig, mac(sha1.New, v.key, data)) {
		return fmt.Errorf("signature mismatch for %s (the auth token differs, or Twilio called another URL)", limit(u))
	}
	return nil
}

// standardWebhooks is Svix's scheme, published as Standard Webhooks:
// webhook-id, webhook-timestamp and webhook-signature (or svix-…), the
// last holding space-separated "v1,BASE64" HMAC-SHA256s of
// "ID.TIMESTAMP.BODY" under the secret's bytes (whsec_BASE64).
type standardWebhooks struct{ key []byte }

func newStandardWebhooks(secret, _ string) (verifier, error) {
	b64, _ := strings.CutPrefix(secret, "whsec_")
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(key) == 0 {
		return nil, sdk.UserErrorf("--%s for svix is whsec_ followed by base64, as the provider's dashboard shows it; this one does not decode.", FlagSecret)
	}
	return standardWebhooks{key: key}, nil
}

func (v standardWebhooks) verify(s signed) error {
	prefix := "Webhook-"
	if len(s.req.Header.Values("Webhook-Id")) == 0 && len(s.req.Header.Values("Svix-Id")) > 0 {
		prefix = "Svix-"
	}
	id, err := one(s.req, prefix+"Id")
	if err != nil {
		return err
	}
	ts, err := one(s.req, prefix+"Timestamp")
	if err != nil {
		return err
	}
	got, err := one(s.req, prefix+"Signature")
	if err != nil {
		return err
	}
	if err := checkTime(ts, s.now); err != nil {
		return err
	}
	want := mac(sha256.New, v.key, []byte(id+"."+ts+"."), s.req.Body)
	for _, f := range strings.Fields(got) {
		ver, b64, ok := strings.Cut(f, ",")
		if !ok || ver != "v1" {
			continue
		}
		if sig, err := base64.StdEncoding.DecodeString(b64); err == nil && hmac.Equal(sig, want) {
			return nil
		}
	}
	return errMismatch
}
