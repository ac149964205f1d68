package verifywebhook

import (
	"net/http"
	"testing"
	"time"

	"github.com/sshgress/sshgress/sdk"
)

// FuzzVerify feeds every provider arbitrary signature headers, query and
// body: none may panic, and none may accept a request without a
// signature header computed under the secret (the fuzzer cannot forge
// an HMAC, so any success is a bug).
func FuzzVerify(f *testing.F) {
	f.Add("sha256=00", "t=1,v1=00", "v0=00", "1760000000", "v1,AAAA", "a=1", []byte("{}"))
	f.Add("", "t=,v1=,v1", "v0=", "-1", "v1, v2,x", "bodySHA256=zz", []byte("To=%zz"))
	now := time.Unix(1_760_000_000, 0)
	f.Fuzz(func(t *testing.T, sig, stripeSig, slackSig, ts, svixSig, query string, body []byte) {
		h := http.Header{
			"X-Hub-Signature-256":       {sig},
			"X-Gitlab-Token":            {sig},
			"Stripe-Signature":          {stripeSig},
			"X-Slack-Signature":         {slackSig},
			"X-Slack-Request-Timestamp": {ts},
			"X-Twilio-Signature":        {sig},
			"X-Shopify-Hmac-Sha256":     {sig},
			"Svix-Id":                   {sig},
			"Svix-Timestamp":            {ts},
			"Svix-Signature":            {svixSig},
			"X-Signature":               {sig},
			"Content-Type":              {"application/x-www-form-urlencoded"},
		}
		for _, p := range providers {
			secret := "fuzz-secret-not-guessable"
			if p.make == nil {
				continue
			}
			if p.name == "svix" || p.name == "standard-webhooks" {
				secret = "whsec_ZnV6ei1zZWNyZXQtbm90LWd1ZXNzYWJsZQ=="
			}
			v, err := p.make(secret, DefaultHeader)
			if err != nil {
				t.Fatal(err)
			}
			req := &sdk.Request{Header: h, Body: body, Path: "/", RawQuery: query}
			if err := v.verify(signed{req: req, url: "https://x.example", now: now}); err == nil && !(p.name == "gitlab" && sig == secret) {
				t.Errorf("%s accepted a forged request", p.name)
			}
		}
	})
}
