package core

import (
	"context"

	"github.com/sshgress/sshgress/core/events"
)

// setupEvents makes the edge's event bus and, when events.webhook.url is
// set, starts the webhook's sender. The SSH server, the plugin host and
// the admin API's stream are handed the bus. The secret goes to the
// webhook only, never to a log.
func (e *Edge) setupEvents() error {
	e.events = events.NewBus()
	w := e.cfg.Events.Webhook
	if w.URL == "" {
		return nil
	}
	queueFull := e.metrics.EventsDropped("webhook", events.DropQueueFull)
	undeliverable := e.metrics.EventsDropped("webhook", events.DropUndeliverable)
	hook, err := events.StartWebhook(e.events, events.WebhookConfig{
		URL:         w.URL,
		Secret:      w.Secret,
		MaxAttempts: w.MaxAttempts,
		Queue:       w.Queue,
		Timeout:     w.Timeout,
		Backoff:     w.Backoff,
		OnDrop: func(reason string) {
			if reason == events.DropQueueFull {
				queueFull()
			} else {
				undeliverable()
			}
		},
		Logger: e.log.With("part", "events"),
	})
	if err != nil {
		return err
	}
	e.webhook = hook
	return nil
}

// closeEvents sends what the webhook still holds (the shutdown's
// tunnel.closed events among them) within ctx, then stops it.
func (e *Edge) closeEvents(ctx context.Context) {
	if e.webhook != nil {
		e.webhook.Close(ctx)
	}
}
