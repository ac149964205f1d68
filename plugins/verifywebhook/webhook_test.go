package verifywebhook

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sshgress/sshgress/sdk"
	"github.com/sshgress/sshgress/sdk/plugintest"
)

func hmacHex(key, msg string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(msg))
	return hex.EncodeToString(m.Sum(nil))
}

func hmacB64(key []byte, msg string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// TestPublishedVectors checks the schemes against examples the providers
// publish in their documentation.
func TestPublishedVectors(t *testing.T) {
	tests := []struct {
		name, provider, secret string
		header                 http.Header
		body                   string
		now                    time.Time
		url, path, query       string
	}{
		{
			name: "github docs", provider: "github", secret: "It's a Secret to Everybody",
			header: http.Header{"X-Hub-Signature-256": {"sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"}},
			body:   "Hello, World!",
		},
		{
			name: "slack docs", provider: "slack", secret: "8f742231b10e8888abcd99yyyzzz85a5",
			header: http.Header{
				"X-Slack-Request-Timestamp": {"1531420618"},
				"X-Slack-Signature":         {"v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"},
			},
			body: "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c",
			now:  time.Unix(1531420618, 0),
		},
		{
			name: "svix docs", provider: "svix", secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
			header: http.Header{
				"Svix-Id":        {"msg_p5jXN8AQM9LWM0D4loKWxJek"},
				"Svix-Timestamp": {"1614265330"},
				"Svix-Signature": {"v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="},
			},
			body: `{"test": 2432232314}`,
			now:  time.Unix(1614265330, 0),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := lookup(tt.provider).make(tt.secret, DefaultHeader)
			if err != nil {
				t.Fatal(err)
			}
			req := &sdk.Request{Header: tt.header, Body: []byte(tt.body), Path: tt.path, RawQuery: tt.query}
			if err := v.verify(signed{req: req, url: tt.url, now: tt.now}); err != nil {
				t.Errorf("the provider's own example did not verify: %v", err)
			}
		})
	}
}

// TestProviders signs requests the way each provider does (computed
// here) and checks good, tampered, expired and malformed ones.
func TestProviders(t *testing.T) {
	const secret = "s3cr3t-signing-key"
	now := time.Unix(1_760_000_000, 0)
	ts := strconv.FormatInt(now.Unix(), 10)
	old := strconv.FormatInt(now.Add(-6*time.Minute).Unix(), 10)
	body := `{"event":"push","n":1}`
	svixKey := []byte("0123456789abcdef0123456789abcdef")
	svixSecret := "whsec_" + base64.StdEncoding.EncodeToString(svixKey)
	twilioURL := "https://k3v9xq2m.tunnel.example.com:8443"
	form := "To=%2B18005551212&From=%2B12349013030&Body=hi"
	twilioSig := func(data string) string {
		m := hmac.New(sha1.New, []byte(secret))
		m.Write([]byte(data))
		return base64.StdEncoding.EncodeToString(m.Sum(nil))
	}
	bodySum := sha256.Sum256([]byte(body))

	type tc struct {
		name, provider, secret, header string
		h                              http.Header
		body, path, query              string
		wantErr                        string // "" verifies
	}
	tests := []tc{
		{name: "github ok", provider: "github", h: http.Header{"X-Hub-Signature-256": {"sha256=" + hmacHex(secret, body)}}},
		{name: "github tampered", provider: "github", h: http.Header{"X-Hub-Signature-256": {"sha256=" + hmacHex(secret, body)}}, body: body + " ", wantErr: "signature mismatch"},
		{name: "github missing", provider: "github", h: http.Header{}, wantErr: "no X-Hub-Signature-256 header"},
		{name: "github no prefix", provider: "github", h: http.Header{"X-Hub-Signature-256": {hmacHex(secret, body)}}, wantErr: `does not start with "sha256="`},
		{name: "github two headers", provider: "github", h: http.Header{"X-Hub-Signature-256": {"a", "b"}}, wantErr: "2 X-Hub-Signature-256 headers"},
		{name: "gitlab ok", provider: "gitlab", h: http.Header{"X-Gitlab-Token": {secret}}},
		{name: "gitlab wrong", provider: "gitlab", h: http.Header{"X-Gitlab-Token": {secret + "x"}}, wantErr: "does not match"},
		{name: "stripe ok", provider: "stripe", h: http.Header{"Stripe-Signature": {"t=" + ts + ",v1=00ff,v1=" + hmacHex(secret, ts+"."+body) + ",v0=abc"}}},
		{name: "stripe expired", provider: "stripe", h: http.Header{"Stripe-Signature": {"t=" + old + ",v1=" + hmacHex(secret, old+"."+body)}}, wantErr: "outside the 5m0s tolerance"},
		{name: "stripe malformed", provider: "stripe", h: http.Header{"Stripe-Signature": {"garbage"}}, wantErr: "no t= timestamp"},
		{name: "stripe tampered", provider: "stripe", h: http.Header{"Stripe-Signature": {"t=" + ts + ",v1=" + hmacHex(secret, ts+"."+body)}}, body: "{}", wantErr: "signature mismatch"},
		{name: "slack ok", provider: "slack", h: http.Header{"X-Slack-Request-Timestamp": {ts}, "X-Slack-Signature": {"v0=" + hmacHex(secret, "v0:"+ts+":"+body)}}},
		{name: "slack expired", provider: "slack", h: http.Header{"X-Slack-Request-Timestamp": {old}, "X-Slack-Signature": {"v0=" + hmacHex(secret, "v0:"+old+":"+body)}}, wantErr: "tolerance"},
		{name: "slack bad timestamp", provider: "slack", h: http.Header{"X-Slack-Request-Timestamp": {"soon"}, "X-Slack-Signature": {"v0=00"}}, wantErr: "is not a Unix time"},
		{name: "shopify ok", provider: "shopify", h: http.Header{"X-Shopify-Hmac-Sha256": {hmacB64([]byte(secret), body)}}},
		{name: "shopify hex is not its encoding", provider: "shopify", h: http.Header{"X-Shopify-Hmac-Sha256": {hmacHex(secret, body)}}, wantErr: "signature mismatch"},
		{name: "shopify not base64", provider: "shopify", h: http.Header{"X-Shopify-Hmac-Sha256": {"%%%"}}, wantErr: "not a hex or base64"},
		{name: "svix ok", provider: "svix", secret: svixSecret, h: http.Header{"Svix-Id": {"msg_1"}, "Svix-Timestamp": {ts}, "Svix-Signature": {"v1,bm9wZQ== v1," + hmacB64(svixKey, "msg_1."+ts+"."+body)}}},
		{name: "standard webhooks ok", provider: "standard-webhooks", secret: svixSecret, h: http.Header{"Webhook-Id": {"msg_1"}, "Webhook-Timestamp": {ts}, "Webhook-Signature": {"v1," + hmacB64(svixKey, "msg_1."+ts+"."+body)}}},
		{name: "svix other id", provider: "svix", secret: svixSecret, h: http.Header{"Svix-Id": {"msg_2"}, "Svix-Timestamp": {ts}, "Svix-Signature": {"v1," + hmacB64(svixKey, "msg_1."+ts+"."+body)}}, wantErr: "signature mismatch"},
		{name: "svix expired", provider: "svix", secret: svixSecret, h: http.Header{"Svix-Id": {"msg_1"}, "Svix-Timestamp": {old}, "Svix-Signature": {"v1," + hmacB64(svixKey, "msg_1."+old+"."+body)}}, wantErr: "tolerance"},
		{name: "twilio form ok", provider: "twilio", body: form, path: "/sms", query: "a=1",
			h: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "X-Twilio-Signature": {twilioSig(twilioURL + "/sms?a=1" + "Bodyhi" + "From+12349013030" + "To+18005551212")}}},
		{name: "twilio form tampered", provider: "twilio", body: strings.Replace(form, "hi", "ho", 1), path: "/sms", query: "a=1",
			h: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "X-Twilio-Signature": {twilioSig(twilioURL + "/sms?a=1" + "Bodyhi" + "From+12349013030" + "To+18005551212")}}, wantErr: "signature mismatch"},
		{name: "twilio json ok", provider: "twilio", path: "/hook", query: "bodySHA256=" + hex.EncodeToString(bodySum[:]),
			h: http.Header{"Content-Type": {"application/json"}, "X-Twilio-Signature": {twilioSig(twilioURL + "/hook?bodySHA256=" + hex.EncodeToString(bodySum[:]))}}},
		{name: "twilio json tampered", provider: "twilio", body: "{}", path: "/hook", query: "bodySHA256=" + hex.EncodeToString(bodySum[:]),
			h: http.Header{"Content-Type": {"application/json"}, "X-Twilio-Signature": {twilioSig(twilioURL + "/hook?bodySHA256=" + hex.EncodeToString(bodySum[:]))}}, wantErr: "bodySHA256"},
		{name: "hmac hex", provider: hmacSHA256, h: http.Header{"X-Signature": {hmacHex(secret, body)}}},
		{name: "hmac prefixed base64 in own header", provider: hmacSHA256, header: "X-Hook-Sig", h: http.Header{"X-Hook-Sig": {"sha256=" + hmacB64([]byte(secret), body)}}},
		{name: "hmac wrong header", provider: hmacSHA256, header: "X-Hook-Sig", h: http.Header{"X-Signature": {hmacHex(secret, body)}}, wantErr: "no X-Hook-Sig header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, header := secret, DefaultHeader
			if tt.secret != "" {
				s = tt.secret
			}
			if tt.header != "" {
				header = tt.header
			}
			b := body
			if tt.body != "" {
				b = tt.body
			}
			v, err := lookup(tt.provider).make(s, header)
			if err != nil {
				t.Fatal(err)
			}
			req := &sdk.Request{Header: tt.h, Body: []byte(b), Path: tt.path, RawQuery: tt.query}
			err = v.verify(signed{req: req, url: twilioURL, now: now})
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("did not verify: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("error %v, want one saying %q", err, tt.wantErr)
			case err != nil && strings.Contains(err.Error(), s):
				t.Errorf("the reason %q shows the secret", err)
			}
		})
	}
}

// TestOpenAndCheck drives the plugin through the SDK's real gRPC
// harness: flags validated at open, a signed body continues, a bad one
// gets 403 with an owner note that shows no secret.
func TestOpenAndCheck(t *testing.T) {
	h := plugintest.Start(t, New())
	if err := h.Configure(nil); err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		name    string
		values  map[string][]string
		wantErr string
	}{
		{"unknown provider", map[string][]string{FlagProvider: {"bitbucket"}, FlagSecret: {"x"}}, `--verify-webhook: unknown provider "bitbucket"; use one of github, gitlab, stripe, slack, twilio, shopify, svix, standard-webhooks, hmac-sha256.`},
		{"no secret", map[string][]string{FlagProvider: {"github"}}, "--verify-webhook github needs --verify-webhook-secret SECRET, the signing secret github gave you."},
		{"no provider", map[string][]string{FlagSecret: {"x"}}, "--verify-webhook-secret needs --verify-webhook PROVIDER"},
		{"header for github", map[string][]string{FlagProvider: {"github"}, FlagSecret: {"x"}, FlagHeader: {"X-A"}}, "--verify-webhook-header applies to --verify-webhook hmac-sha256 only"},
		{"bad header", map[string][]string{FlagProvider: {hmacSHA256}, FlagSecret: {"x"}, FlagHeader: {"X A"}}, `--verify-webhook-header: "X A" is not a valid header name.`},
		{"bad svix secret", map[string][]string{FlagProvider: {"svix"}, FlagSecret: {"whsec_!!!"}}, "--verify-webhook-secret for svix is whsec_ followed by base64"},
		{"long secret", map[string][]string{FlagProvider: {"github"}, FlagSecret: {strings.Repeat("k", MaxSecretLen+1)}}, "at most 1024 are accepted"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.Open("t-bad", tt.values)
			msg, ok := sdk.AsUserError(err)
			if !ok || !strings.Contains(msg, tt.wantErr) {
				t.Errorf("Open error %v, want user error containing %q", err, tt.wantErr)
			}
		})
	}

	const secret = "hush-hush-hush"
	res, err := h.Open("t1", map[string][]string{FlagProvider: {"GitHub"}, FlagSecret: {secret}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Protection != "webhook signatures (GitHub)" {
		t.Errorf("protection %q", res.Protection)
	}
	body := []byte(`{"zen":"Keep it logically awesome."}`)
	good := &sdk.Request{TunnelID: "t1", Method: "POST", Path: "/", Header: http.Header{"X-Hub-Signature-256": {"sha256=" + hmacHex(secret, string(body))}}, Body: body}
	v, err := h.Check(good)
	if err != nil || v.Continue == nil {
		t.Fatalf("signed request: %+v, %v; want continue", v, err)
	}
	if v.Cache != nil {
		t.Error("a body-dependent verdict carries a cache hint")
	}
	tampered := *good
	tampered.Body = append([]byte{}, body...)
	tampered.Body[2] = 'Z'
	v, err = h.Check(&tampered)
	if err != nil || v.Respond == nil || v.Respond.Status != 403 {
		t.Fatalf("tampered request: %+v, %v; want 403", v, err)
	}
	if want := "webhook signature did not verify (GitHub): signature mismatch"; !strings.HasPrefix(v.Respond.OwnerNote, want) {
		t.Errorf("owner note %q, want it to start %q", v.Respond.OwnerNote, want)
	}
	if strings.Contains(v.Respond.OwnerNote+string(v.Respond.Body), secret) {
		t.Error("the 403 shows the secret")
	}
	if err := h.CloseTunnel("t1"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Check(good); err == nil {
		t.Error("Check after CloseTunnel succeeded")
	}
}
