package events

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Headers of a webhook delivery. The signature is
// "sha256=" + hex(HMAC-SHA256(secret, timestamp + "." + body)), where
// timestamp is the TimestampHeader's value (Unix seconds): a receiver
// recomputes it, compares in constant time, and refuses a timestamp more
// than a few minutes old, so a captured delivery cannot be replayed
// later. docs/observability.md shows a receiver in Python and in shell.
const (
	SignatureHeader = "X-Sshgress-Signature"
	TimestampHeader = "X-Sshgress-Timestamp"
	EventHeader     = "X-Sshgress-Event"    // the event's type
	DeliveryHeader  = "X-Sshgress-Delivery" // the event's id, the same on every attempt
)

// Defaults of WebhookConfig's zero fields; core/config's defaults use them.
const (
	DefaultWebhookAttempts = 5
	DefaultWebhookQueue    = 1024
	DefaultWebhookTimeout  = 10 * time.Second
	DefaultWebhookBackoff  = time.Second
	// maxWebhookBackoff caps the delay between two attempts.
	maxWebhookBackoff = time.Minute
	// maxWebhookReply bounds what is read of a receiver's answer.
	maxWebhookReply = 4 << 10
)

// WebhookConfig configures the operator's webhook.
type WebhookConfig struct {
	// URL receives a POST per event (http or https). Required.
	URL string
	// Secret keys the signature. Required. Never logged.
	Secret string
	// MaxAttempts bounds the tries per event, the first included; then
	// the event is dropped and counted. Default DefaultWebhookAttempts.
	MaxAttempts int
	// Queue bounds the events waiting to be sent; more are dropped and
	// counted. Default DefaultWebhookQueue.
	Queue int
	// Timeout bounds one attempt, connecting to reading the answer's
	// status. Default DefaultWebhookTimeout.
	Timeout time.Duration
	// Backoff is the delay before the second attempt; each later one
	// doubles it (up to a minute), with up to 50 % of random jitter added.
	// Default DefaultWebhookBackoff.
	Backoff time.Duration
	// Client sends the requests. Default: one of the webhook's own, with
	// Timeout, that does not follow redirects; Close closes its idle
	// connections.
	Client *http.Client
	// OnDrop counts an event dropped, with why: "queue_full" or
	// "undeliverable". It must not block.
	OnDrop func(reason string)
	// Logger receives a line per event given up on. Default: discard.
	Logger *slog.Logger
}

// Why a webhook dropped an event (WebhookConfig.OnDrop).
const (
	DropQueueFull     = "queue_full"
	DropUndeliverable = "undeliverable"
)

// Webhook sends the bus's events to the operator's URL, signed, one at a
// time and in order, retrying with backoff. Its one sender goroutine runs
// until Close.
type Webhook struct {
	cfg    WebhookConfig
	sub    *Subscription
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	// where is the URL without user info, path or query, for logs: those
	// may hold a token of the receiver's.
	where string
}

// StartWebhook subscribes to bus and starts the sender.
func StartWebhook(bus *Bus, cfg WebhookConfig) (*Webhook, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("events: webhook: the URL is not an http or https URL")
	}
	if cfg.Secret == "" {
		return nil, errors.New("events: webhook: no secret to sign with")
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultWebhookAttempts
	}
	if cfg.Queue <= 0 {
		cfg.Queue = DefaultWebhookQueue
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultWebhookTimeout
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = DefaultWebhookBackoff
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{
			Transport:     http.DefaultTransport.(*http.Transport).Clone(),
			Timeout:       cfg.Timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.OnDrop == nil {
		cfg.OnDrop = func(string) {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &Webhook{cfg: cfg, ctx: ctx, cancel: cancel, done: make(chan struct{}),
		where: u.Scheme + "://" + u.Host}
	w.sub = bus.Subscribe(SubscribeOptions{Queue: cfg.Queue, OnDrop: func() { cfg.OnDrop(DropQueueFull) }})
	go w.run()
	return w, nil
}

// run sends every queued event in order until the subscription closes
// (Close) and its queue is empty, or ctx is cancelled.
func (w *Webhook) run() {
	defer close(w.done)
	for ev := range w.sub.C() {
		if w.ctx.Err() != nil {
			w.cfg.OnDrop(DropUndeliverable)
			continue
		}
		if err := w.deliver(ev); err != nil {
			w.cfg.OnDrop(DropUndeliverable)
			w.cfg.Logger.Warn("event webhook: giving up on an event", "to", w.where, "event", ev.Type, "id", ev.ID, "err", err)
		}
	}
}

// deliver tries ev up to MaxAttempts times.
func (w *Webhook) deliver(ev Event) error {
	body, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		retry, err := w.post(ev, body)
		if err == nil {
			return nil
		}
		if !retry || attempt >= w.cfg.MaxAttempts {
			return fmt.Errorf("after %d attempt(s): %w", attempt, err)
		}
		t := time.NewTimer(w.delay(attempt))
		select {
		case <-w.ctx.Done():
			t.Stop()
			return fmt.Errorf("after %d attempt(s), stopped: %w", attempt, err)
		case <-t.C:
		}
	}
}

// delay is the wait after attempt n (1-based): Backoff doubling per
// attempt, capped, plus up to half of it again at random so that many
// edges do not retry in step.
func (w *Webhook) delay(n int) time.Duration {
	d := w.cfg.Backoff
	for i := 1; i < n && d < maxWebhookBackoff; i++ {
		d *= 2
	}
	d = min(d, maxWebhookBackoff)
	return d + rand.N(d/2+1)
}

// post makes one attempt; retry says whether another may succeed (network
// errors, 408, 429, 5xx) or not (any other answer but 2xx).
func (w *Webhook) post(ev Event, body []byte) (retry bool, err error) {
	ctx, cancel := context.WithTimeout(w.ctx, w.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "sshgress-events/1")
	req.Header.Set(EventHeader, ev.Type)
	req.Header.Set(DeliveryHeader, ev.ID)
	req.Header.Set(TimestampHeader, ts)
	req.Header.Set(SignatureHeader, Sign(w.cfg.Secret, ts, body))
	resp, err := w.cfg.Client.Do(req)
	if err != nil {
		// The error names the URL; url.Error's own text is kept out so a
		// token in the receiver's query never reaches the log.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return true, err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxWebhookReply))
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return false, nil
	case resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode >= 500:
		return true, fmt.Errorf("the receiver answered %s", resp.Status)
	default:
		return false, fmt.Errorf("the receiver answered %s", resp.Status)
	}
}

// Sign is the signature header's value for a delivery: "sha256=" and the
// hex HMAC-SHA256, keyed with secret, of timestamp + "." + body.
func Sign(secret, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(timestamp))
	m.Write([]byte("."))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks a delivery's signature in constant time and that its
// timestamp is within maxAge of now: what a receiver written in Go does.
func Verify(secret, timestamp, signature string, body []byte, maxAge time.Duration, now time.Time) bool {
	sec, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return false
	}
	if age := now.Sub(time.Unix(sec, 0)); age > maxAge || age < -maxAge {
		return false
	}
	return hmac.Equal([]byte(signature), []byte(Sign(secret, timestamp, body)))
}

// Close stops taking events, sends those queued within ctx, then stops
// the sender (an attempt in flight is abandoned). Idempotent.
func (w *Webhook) Close(ctx context.Context) {
	w.sub.Close()
	select {
	case <-w.done:
	case <-ctx.Done():
		w.cancel()
		<-w.done
	}
	w.cancel()
	w.cfg.Client.CloseIdleConnections()
}
