package config

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/sshgress/sshgress/core/events"
)

// Events configures where the edge sends its events (tunnel opened and
// closed, failed logins over the threshold, plugin crashes; see
// docs/observability.md). The admin API streams them too
// (GET /api/v1/events) whatever is set here.
type Events struct {
	// Webhook is the operator's receiver of signed POSTs.
	Webhook Webhook `koanf:"webhook"`
}

// Webhook configures the event webhook.
type Webhook struct {
	// URL receives one POST per event, JSON, signed. Default "" (no
	// webhook). http or https; use https beyond the edge's own network.
	URL string `koanf:"url"`

	// Secret keys the HMAC-SHA256 signature of each delivery (header
	// X-Sshgress-Signature). Required with URL; at least 16 characters.
	// Default "". SSHGRESS_EVENTS_WEBHOOK_SECRET keeps it out of the
	// config file. It is never logged.
	Secret string `koanf:"secret"`

	// MaxAttempts bounds the tries per event, the first included; then the
	// event is dropped and counted. Default events.DefaultWebhookAttempts.
	MaxAttempts int `koanf:"max_attempts"`

	// Queue bounds the events waiting to be sent; when full, new ones are
	// dropped and counted (sshgress_events_dropped_total). Default
	// events.DefaultWebhookQueue.
	Queue int `koanf:"queue"`

	// Timeout bounds one attempt. Default events.DefaultWebhookTimeout.
	Timeout time.Duration `koanf:"timeout"`

	// Backoff is the wait before the second attempt, doubling for each
	// later one (up to a minute) with random jitter. Default
	// events.DefaultWebhookBackoff.
	Backoff time.Duration `koanf:"backoff"`
}

func eventsDefaults() Events {
	return Events{Webhook: Webhook{
		MaxAttempts: events.DefaultWebhookAttempts,
		Queue:       events.DefaultWebhookQueue,
		Timeout:     events.DefaultWebhookTimeout,
		Backoff:     events.DefaultWebhookBackoff,
	}}
}

// minWebhookSecret is the shortest events.webhook.secret accepted.
const minWebhookSecret = 16

// validateEvents checks the events section; the secret is never quoted.
func (c *Config) validateEvents(v *validator) {
	w := &c.Events.Webhook
	v.atLeastOne("events.webhook.max_attempts", w.MaxAttempts)
	v.atLeastOne("events.webhook.queue", w.Queue)
	v.positive("events.webhook.timeout", w.Timeout)
	v.positive("events.webhook.backoff", w.Backoff)
	if w.URL == "" {
		return
	}
	if u, err := url.Parse(w.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.add("events.webhook.url", errors.New("want an http:// or https:// URL such as https://hooks.example.com/sshgress"))
	}
	if len(w.Secret) < minWebhookSecret {
		v.add("events.webhook.secret", fmt.Errorf("a webhook needs a secret of at least %d characters to sign its deliveries (e.g. openssl rand -hex 32)", minWebhookSecret))
	}
}
