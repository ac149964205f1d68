package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sshgress/sshgress/core/admin"
	"github.com/sshgress/sshgress/core/events"
)

// `sshgress admin events` follows GET /api/v1/events (server-sent events)
// and prints one line per event, or with --json the event's JSON as the
// edge sent it. It runs until interrupted (exit 0) or until the edge ends
// the stream (exit 1, e.g. the edge shut down). A stream with no line for
// eventsIdle — not even the edge's heartbeat — is given up on.

// eventsIdle bounds the wait for the answer and then for each line.
const eventsIdle = 3 * admin.StreamHeartbeat

// maxEventLine bounds one line of the stream.
const maxEventLine = 64 << 10

var errStreamEnded = errors.New("the edge ended the event stream")

func (c *adminCLI) events(parent context.Context) error {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	var idle atomic.Bool
	watchdog := time.AfterFunc(eventsIdle, func() { idle.Store(true); cancel() })
	defer watchdog.Stop()

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/api/v1/events", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "text/event-stream")
	// The stream has no end of its own: no overall timeout, the watchdog
	// bounds every wait instead.
	hc := &http.Client{Transport: c.client.Transport}
	resp, err := hc.Do(req)
	if err != nil {
		if parent.Err() != nil {
			return nil
		}
		if idle.Load() {
			return fmt.Errorf("the admin API at %s did not answer within %s", c.base, eventsIdle)
		}
		return fmt.Errorf("cannot reach the admin API at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, maxAdminResponse))
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return errors.New(e.Error)
		}
		return fmt.Errorf("the admin API answered %s", resp.Status)
	}
	err = scanEvents(resp.Body, func() { watchdog.Reset(eventsIdle) }, c.printEvent)
	switch {
	case parent.Err() != nil:
		return nil
	case idle.Load():
		return fmt.Errorf("the edge sent nothing for %s, not even a heartbeat; giving up", eventsIdle)
	case err != nil && !errors.Is(err, context.Canceled):
		return err
	}
	return errStreamEnded
}

// scanEvents reads a server-sent event stream from r until it ends: line
// is called for every line read (a heartbeat included), event with each
// event's data (its data: lines joined by newlines). "id:", "event:" and
// comment lines are skipped: the data says it all. A line longer than
// maxEventLine is an error.
func scanEvents(r io.Reader, line func(), event func(data string) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), maxEventLine)
	var data strings.Builder
	for sc.Scan() {
		line()
		l := sc.Text()
		switch {
		case l == "":
			if data.Len() > 0 {
				if err := event(data.String()); err != nil {
					return err
				}
				data.Reset()
			}
		case strings.HasPrefix(l, "data:"):
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.WriteString(strings.TrimPrefix(strings.TrimPrefix(l, "data:"), " "))
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading the event stream: %w", err)
	}
	return nil
}

// printEvent prints one event's data: as is with --json, else one line.
func (c *adminCLI) printEvent(data string) error {
	if c.json {
		_, err := fmt.Fprintln(c.stdout, data)
		return err
	}
	var ev events.Event
	if err := json.Unmarshal([]byte(data), &ev); err != nil {
		return fmt.Errorf("the edge sent an event that is not JSON: %w", err)
	}
	_, err := fmt.Fprintln(c.stdout, eventLine(ev))
	return err
}

// eventLine is ev in one line: time, type, then the fields it has as
// key=value.
func eventLine(ev events.Event) string {
	parts := []string{ev.Time.UTC().Format(time.RFC3339), ev.Type}
	add := func(k, v string) {
		if v != "" && v != "0" {
			parts = append(parts, k+"="+v)
		}
	}
	add("account", ev.Account)
	add("tunnel", ev.TunnelID)
	add("type", ev.TunnelType)
	add("url", ev.URL)
	add("client", ev.ClientAddr)
	add("reason", ev.Reason)
	add("source", ev.Source)
	add("failures", fmt.Sprint(ev.Failures))
	add("window", ev.Window)
	add("penalty", ev.Penalty)
	add("plugin", ev.Plugin)
	add("open_tunnels", fmt.Sprint(ev.OpenTunnels))
	add("restarts", fmt.Sprint(ev.Restarts))
	return strings.Join(parts, " ")
}

// interruptible is a context that ends on SIGINT or SIGTERM.
func interruptible() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// runEvents is `sshgress admin events`, with its exit status.
func runEvents(cli *adminCLI, conn *adminConnFlags, args []string, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintf(stderr, "sshgress admin: events takes no argument\n\n%s", adminUsage)
		return 2
	}
	if code := conn.readToken(cli, "sshgress admin", stderr); code != 0 {
		return code
	}
	ctx, stop := interruptible()
	defer stop()
	if err := cli.events(ctx); err != nil {
		fmt.Fprintln(stderr, "sshgress admin:", err)
		return 1
	}
	return 0
}
