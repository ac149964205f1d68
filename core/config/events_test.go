package config

import (
	"strings"
	"testing"
	"time"
)

// TestEventsSection checks the events keys' validation (a webhook needs
// a signing secret, which no error quotes) and defaults, and that the
// secret may come from the environment.
func TestEventsSection(t *testing.T) {
	const short = "tooshort"
	bad := []struct{ name, yaml, want string }{
		{"url without secret", "events:\n  webhook:\n    url: https://hooks.example.com/x\n", "config: events.webhook.secret"},
		{"short secret", "events:\n  webhook:\n    url: https://hooks.example.com/x\n    secret: " + short + "\n", "config: events.webhook.secret"},
		{"not http", "events:\n  webhook:\n    url: ftp://hooks.example.com/x\n    secret: 0123456789abcdef0123\n", "config: events.webhook.url"},
		{"no host", "events:\n  webhook:\n    url: https:///x\n    secret: 0123456789abcdef0123\n", "config: events.webhook.url"},
		{"attempts", "events:\n  webhook:\n    max_attempts: 0\n", "config: events.webhook.max_attempts"},
		{"queue", "events:\n  webhook:\n    queue: -1\n", "config: events.webhook.queue"},
		{"timeout", "events:\n  webhook:\n    timeout: 0s\n", "config: events.webhook.timeout"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(flags(t, "--config", writeConfig(t, tc.yaml)), nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one containing %q", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), short) {
				t.Errorf("err %q quotes the secret", err)
			}
		})
	}
	c, err := Load(flags(t, "--config", writeConfig(t, "events:\n  webhook:\n    url: https://hooks.example.com/x\n")),
		[]string{"SSHGRESS_EVENTS_WEBHOOK_SECRET=from-the-environment-0123"})
	if err != nil {
		t.Fatal(err)
	}
	w := c.Events.Webhook
	if w.Secret != "from-the-environment-0123" {
		t.Errorf("secret from SSHGRESS_EVENTS_WEBHOOK_SECRET: %q", w.Secret)
	}
	if w.MaxAttempts != 5 || w.Queue != 1024 || w.Timeout != 10*time.Second || w.Backoff != time.Second {
		t.Errorf("defaults: %+v", w)
	}
}
