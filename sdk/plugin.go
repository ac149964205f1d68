package sdk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"regexp"
	"sort"
	"strings"
)

// APIVersion is the major version of the plugin contract this SDK speaks
// (proto package sshgress.plugin.v1, go-plugin protocol version 1).
const APIVersion = 1

// Plugin is what every sshgress plugin implements. The edge calls Manifest
// once per start, then Configure. A plugin that keeps per-tunnel state
// (a middleware's credentials, say) also implements TunnelHooks; one that
// does not (an endpoint type whose flags travel with Bind) need not stub it.
//
// Methods may be called concurrently from several goroutines.
type Plugin interface {
	// Manifest describes the plugin: its name, version and what it owns.
	// Serve fills in APIVersion and HTTPMiddleware.
	Manifest() Manifest
	// Configure hands the plugin its section of the operator config. An
	// error stops the edge's start-up with the error's text. It is called
	// again after every restart of the plugin process.
	Configure(ctx context.Context, cfg Config) error
}

// TunnelHooks is implemented by a plugin that wants to know the tunnels
// that set its flags: the edge calls OpenTunnel and CloseTunnel as they
// come and go. Without it a tunnel is accepted as it is and nothing is
// called (Serve answers for the plugin).
type TunnelHooks interface {
	// OpenTunnel validates the plugin's flag values for a new tunnel and
	// remembers what it needs for later calls. Return an error made with
	// UserErrorf to refuse the tunnel: its text is shown verbatim to the
	// tunnel's owner. OpenTunnel is called again with the same tunnel ID
	// after a plugin restart and must then replace what it had.
	OpenTunnel(ctx context.Context, t Tunnel) (OpenResult, error)
	// CloseTunnel forgets a tunnel. Unknown IDs are not an error.
	CloseTunnel(ctx context.Context, tunnelID string) error
}

// Manifest declares what a plugin is and what it owns.
type Manifest struct {
	// Name identifies the plugin, e.g. "basicauth": lowercase letters,
	// digits and dashes. It must equal the name the operator gives the
	// plugin in the edge's config.
	Name string
	// Version is the plugin's own version, free form, e.g. "1.0.0".
	Version string
	// APIVersion is the contract's major version; Serve sets it to
	// APIVersion.
	APIVersion int
	// Flags are the command-line flags the plugin owns. Two plugins may not
	// declare the same flag for the same command.
	Flags []FlagSpec
	// EndpointTypes are the commands (endpoint types) the plugin provides,
	// e.g. "tcp". "http" is built into the edge.
	EndpointTypes []string
	// ReservedPaths are URL paths the plugin answers on hosts that have no
	// tunnel, such as the OAuth callback on its one auth host (identity
	// providers accept only registered redirect URIs, so the callback
	// cannot live on each tunnel's host). A request to a host without a
	// tunnel whose path falls under one (equal to it; under it if it ends
	// with "/"; or under it + "/") goes to the plugin's Check with an empty
	// TunnelID; the plugin checks the host itself, and a continue verdict
	// gets the edge's "no tunnel" page. Requests to tunnels' hosts never
	// reach a reserved path: they go through the tunnel's own chain. Each
	// starts with "/"; two plugins may not reserve the same path.
	ReservedPaths []string
	// HTTPMiddleware reports that the plugin implements HTTPMiddleware.
	// Serve sets it from the plugin's type.
	HTTPMiddleware bool
	// Authenticates marks a plugin that authenticates visitors (basic
	// auth, OAuth). An endpoint takes at most one: the edge refuses a
	// command that sets flags of two such plugins.
	Authenticates bool
}

// Config is what Configure receives.
type Config struct {
	// Section is the plugin's section of the operator config, decoded from
	// JSON (numbers are float64, lists []any). Empty when the operator wrote
	// none; never nil.
	Section map[string]any
	// BaseDomain is the edge's base domain, e.g. "tunnel.example.com".
	BaseDomain string
	// DataDir is a directory the plugin may keep state in.
	DataDir string
	// Logger writes to the plugin's stderr in a form the edge relays to its
	// own log. It is set by the SDK, never nil inside Configure.
	Logger *slog.Logger
}

// NoSettings is the Configure check of a plugin that has no settings: an
// error naming the first (sorted) key of a non-empty section, nil otherwise.
func (c Config) NoSettings(plugin string) error {
	if len(c.Section) == 0 {
		return nil
	}
	keys := make([]string, 0, len(c.Section))
	for k := range c.Section {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return fmt.Errorf("%s: configure: unknown setting %q (the plugin has no settings)", plugin, keys[0])
}

// Decode stores the section in v, a pointer to a struct whose fields name
// the settings with `json:"..."` tags, strictly: a setting v has no field
// for, or a value of the wrong type, is an error that names the setting
// (the dotted path of its struct fields for nested ones, e.g.
// "providers.client_id"; map keys are not in it), in a form
// fit for the operator. Durations and other parsed values are best decoded
// as strings and checked by the plugin. An empty section leaves v as it is,
// so fields set beforehand act as defaults.
func (c Config) Decode(v any) error {
	if len(c.Section) == 0 {
		return nil
	}
	raw, err := json.Marshal(c.Section)
	if err != nil {
		return fmt.Errorf("settings: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	err = dec.Decode(v)
	var typeErr *json.UnmarshalTypeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &typeErr):
		return fmt.Errorf("setting %s: want %s, not %s", typeErr.Field, jsonKind(typeErr.Type), typeErr.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return fmt.Errorf("unknown setting %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	return fmt.Errorf("settings: %w", err)
}

// jsonKind names what a Go type holds, for Decode's messages.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a map of settings"
	}
	return t.String()
}

// Tunnel is a tunnel that sets at least one of the plugin's flags.
type Tunnel struct {
	// ID is unique among the edge's open tunnels.
	ID string
	// Account identifies the SSH user (account name or key fingerprint).
	Account string
	// Command is the endpoint type, e.g. "http".
	Command string
	// Host is the tunnel's public host name; empty for tcp tunnels.
	Host string
	// URL is the tunnel's public URL.
	URL string
	// RemotePort is the port the user asked for with ssh -R.
	RemotePort uint32
	// Values holds the parsed values of this plugin's flags that were set,
	// keyed by flag name without dashes, in the order given. Bool flags
	// carry "true" or "false".
	Values map[string][]string
}

// OpenResult is OpenTunnel's answer.
type OpenResult struct {
	// Protection is one short line for the user's banner saying what the
	// plugin does for the tunnel, e.g. "basic auth (2 users)". Never a
	// secret. Empty adds no line.
	Protection string
}

var (
	pluginNameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)
	flagNameRE   = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)
)

// MaxFlags bounds the number of flags one manifest may declare.
const MaxFlags = 64

// Validate reports the first problem that makes m unusable by the edge.
func (m Manifest) Validate() error {
	if !pluginNameRE.MatchString(m.Name) {
		return fmt.Errorf("sdk: manifest: name %q must be lowercase letters, digits and dashes, starting with a letter", m.Name)
	}
	if m.APIVersion != APIVersion {
		return fmt.Errorf("sdk: manifest %q: api version %d is not %d", m.Name, m.APIVersion, APIVersion)
	}
	if len(m.Flags) > MaxFlags {
		return fmt.Errorf("sdk: manifest %q: %d flags, at most %d", m.Name, len(m.Flags), MaxFlags)
	}
	seen := make(map[string]bool, len(m.Flags))
	for _, f := range m.Flags {
		if !flagNameRE.MatchString(f.Name) {
			return fmt.Errorf("sdk: manifest %q: flag name %q must be lowercase letters, digits and dashes, without leading dashes", m.Name, f.Name)
		}
		if seen[f.Name] {
			return fmt.Errorf("sdk: manifest %q: flag %q declared twice", m.Name, f.Name)
		}
		seen[f.Name] = true
		if f.Type < FlagString || f.Type > FlagInt {
			return fmt.Errorf("sdk: manifest %q: flag %q has unknown type %d", m.Name, f.Name, int(f.Type))
		}
		if strings.ContainsAny(f.Help, "\r\n") {
			return fmt.Errorf("sdk: manifest %q: flag %q help must be one line", m.Name, f.Name)
		}
	}
	for _, e := range m.EndpointTypes {
		if !pluginNameRE.MatchString(e) {
			return fmt.Errorf("sdk: manifest %q: endpoint type %q must be lowercase letters, digits and dashes", m.Name, e)
		}
	}
	for _, p := range m.ReservedPaths {
		if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, "?# \t\r\n") {
			return fmt.Errorf("sdk: manifest %q: reserved path %q must start with / and hold no query, fragment or space", m.Name, p)
		}
	}
	return nil
}
