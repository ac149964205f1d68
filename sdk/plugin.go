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
	"slices"
	"sort"
	"strconv"
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
	// e.g. "tcp". "http" is built into the edge. A type described in
	// EndpointTypeSpecs need not be listed here too (Serve adds it, for
	// edges that predate EndpointTypeSpecs); a type listed only here gets
	// a generic summary and no remote-port check.
	EndpointTypes []string
	// EndpointTypeSpecs describe the endpoint types the plugin provides:
	// the edge builds each command's help and its remote-port check from
	// them, so it names no plugin's command itself.
	EndpointTypeSpecs []EndpointTypeSpec
	// ReservedPaths are URL paths the plugin answers on hosts that have no
	// tunnel, such as the OAuth callback on its one auth host (identity
	// providers accept only registered redirect URIs, so the callback
	// cannot live on each tunnel's host). A request to a host without a
	// tunnel whose path falls under one (equal to it; under it if it ends
	// with "/"; or under it + "/") goes to the plugin's Check with an empty
	// TunnelID; the plugin checks the host itself, and a continue verdict
	// gets the edge's "no tunnel" page. Requests to tunnels' hosts never
	// reach a reserved path: they go through the tunnel's own chain. Each
	// starts with "/"; two plugins may not reserve the same path. Pair it
	// with ServedHosts so no tunnel can hold the host the paths live on.
	ReservedPaths []string
	// ServedHosts declare the host names the plugin answers on itself
	// (the OAuth auth host). The edge keeps them from every tunnel from
	// its config alone, before the plugin starts and whether or not it is
	// enabled, so enabling the plugin later cannot collide with a tunnel.
	// A plugin that serves hosts also implements HostServer, which says
	// after Configure which hosts it resolved.
	ServedHosts []ServedHost
	// HTTPMiddleware reports that the plugin implements HTTPMiddleware.
	// Serve sets it from the plugin's type.
	HTTPMiddleware bool
	// ResponseHead reports that the plugin implements ResponseReviewer (an
	// HTTPMiddleware that wants each final response head). Serve sets it
	// from the plugin's type.
	ResponseHead bool
	// Authenticates marks a plugin that authenticates visitors (basic
	// auth, OAuth). An endpoint takes at most one: the edge refuses a
	// command that sets flags of two such plugins.
	Authenticates bool
	// RequestBody asks for each request's whole body in Request.Body
	// (a webhook signature is computed over it). It is the one case where
	// bytes reach a plugin: the edge buffers the body up to its operator's
	// bound (http.middleware_body_limit, 1 MiB by default) and answers 413
	// itself beyond it, and never caches such a plugin's verdicts. Leave it
	// false unless the plugin cannot decide without the bytes.
	RequestBody bool
}

// EndpointTypeSpec describes one endpoint type (command) a plugin
// provides, for the edge's --help and its remote-port check.
type EndpointTypeSpec struct {
	// Name is the command the user types, e.g. "tcp": lowercase letters,
	// digits and dashes.
	Name string
	// Summary is one line for the command list, e.g. "Publish a local TCP
	// service at a public port". Empty gives a generic line naming the
	// plugin.
	Summary string
	// Ports is the remote-port rule as --help shows it, e.g. "443 or 0".
	// Empty leaves the line out.
	Ports string
	// RemotePorts, when set, are the only remote ports the edge accepts for
	// the type: it refuses any other before calling Bind, with a sentence
	// (RemotePortHint) that quotes Ports and suggests RemotePorts[0]. Empty
	// leaves every port to Bind (tcp's reserved addresses, say).
	RemotePorts []uint32
	// Example is a complete command line for --help, e.g.
	// "ssh -R myapp:443:localhost:8443 v2@{host} tls"; {host} stands for
	// the edge's SSH destination. Empty leaves the example out.
	Example string
}

// ServedHost declares one host name a plugin serves itself. At least one
// field is set.
type ServedHost struct {
	// Label, when set, is always served: Label + "." + the base domain,
	// e.g. "auth" for auth.tunnel.example.com.
	Label string
	// Setting names a key of the plugin's config section whose string
	// value, when the operator sets it, is a host the plugin serves too,
	// e.g. "auth_host". The edge reads it from its own config, so it is
	// reserved even while the plugin is disabled.
	Setting string
}

// HostServer is implemented by a plugin that declares ServedHosts. After
// a successful Configure the edge asks it which hosts it serves with that
// config, normalised as it will match them; the edge reserves those too,
// and only those may get certificates (ACME) on the plugin's behalf.
type HostServer interface {
	ServedHosts() []string
}

// MaxServedHosts bounds the hosts one plugin declares or serves.
const MaxServedHosts = 16

// Endpoints returns every endpoint type the manifest provides: the
// EndpointTypeSpecs, then a bare spec (Name only) for each name in
// EndpointTypes that has none.
func (m Manifest) Endpoints() []EndpointTypeSpec {
	out := slices.Clone(m.EndpointTypeSpecs)
	for _, name := range m.EndpointTypes {
		if !slices.ContainsFunc(out, func(s EndpointTypeSpec) bool { return s.Name == name }) {
			out = append(out, EndpointTypeSpec{Name: name})
		}
	}
	return out
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
	// Rules, when set, are per-request rules of an http tunnel the edge
	// enforces itself, with no call to the plugin (see StaticRules). Nil
	// means none.
	Rules *StaticRules
}

// MaxPluginNameLength is the longest plugin name, in bytes.
const MaxPluginNameLength = 63

// ValidPluginName checks the one rule for plugin names, used by the
// manifest, the edge's config and its plugin host alike: 1 to
// MaxPluginNameLength lowercase letters, digits and hyphens, starting with
// a letter. The error repeats the name, quoted.
func ValidPluginName(name string) error {
	if !pluginNameRE.MatchString(name) {
		return fmt.Errorf("%q: a plugin name is 1 to %d lowercase letters, digits or hyphens, starting with a letter", name, MaxPluginNameLength)
	}
	return nil
}

var (
	// pluginNameRE is ValidPluginName's rule; endpoint type names follow
	// it too.
	pluginNameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,` + strconv.Itoa(MaxPluginNameLength-1) + `}$`)
	flagNameRE   = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)
	hostLabelRE  = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	settingRE    = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)
)

const (
	// maxSpecText bounds an endpoint type's summary, ports and example.
	maxSpecText = 256
	// maxRemotePorts bounds an endpoint type's RemotePorts.
	maxRemotePorts = 16
)

// MaxFlags bounds the number of flags one manifest may declare.
const MaxFlags = 64

// Validate reports the first problem that makes m unusable by the edge.
func (m Manifest) Validate() error {
	if err := ValidPluginName(m.Name); err != nil {
		return fmt.Errorf("sdk: manifest: name %w", err)
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
	types := make(map[string]bool, len(m.EndpointTypeSpecs))
	for _, e := range m.EndpointTypeSpecs {
		if !pluginNameRE.MatchString(e.Name) {
			return fmt.Errorf("sdk: manifest %q: endpoint type %q must be lowercase letters, digits and dashes", m.Name, e.Name)
		}
		if types[e.Name] {
			return fmt.Errorf("sdk: manifest %q: endpoint type %q described twice", m.Name, e.Name)
		}
		types[e.Name] = true
		for _, text := range []string{e.Summary, e.Ports, e.Example} {
			if strings.ContainsAny(text, "\r\n") || len(text) > maxSpecText {
				return fmt.Errorf("sdk: manifest %q: endpoint type %q: summary, ports and example must each be one line of at most %d bytes", m.Name, e.Name, maxSpecText)
			}
		}
		if len(e.RemotePorts) > maxRemotePorts {
			return fmt.Errorf("sdk: manifest %q: endpoint type %q: %d remote ports, at most %d", m.Name, e.Name, len(e.RemotePorts), maxRemotePorts)
		}
		for _, p := range e.RemotePorts {
			if p > 65535 {
				return fmt.Errorf("sdk: manifest %q: endpoint type %q: remote port %d is not a port", m.Name, e.Name, p)
			}
		}
	}
	if len(m.ServedHosts) > MaxServedHosts {
		return fmt.Errorf("sdk: manifest %q: %d served hosts, at most %d", m.Name, len(m.ServedHosts), MaxServedHosts)
	}
	for _, h := range m.ServedHosts {
		if h.Label == "" && h.Setting == "" {
			return fmt.Errorf("sdk: manifest %q: a served host needs a label or a setting", m.Name)
		}
		if h.Label != "" && !hostLabelRE.MatchString(h.Label) {
			return fmt.Errorf("sdk: manifest %q: served host label %q must be one DNS label of lowercase letters, digits and dashes", m.Name, h.Label)
		}
		if h.Setting != "" && !settingRE.MatchString(h.Setting) {
			return fmt.Errorf("sdk: manifest %q: served host setting %q must be a config key of lowercase letters, digits and underscores", m.Name, h.Setting)
		}
	}
	if m.ResponseHead && !m.HTTPMiddleware {
		return fmt.Errorf("sdk: manifest %q: a plugin that reviews response heads must be an http middleware", m.Name)
	}
	for _, p := range m.ReservedPaths {
		if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, "?# \t\r\n") {
			return fmt.Errorf("sdk: manifest %q: reserved path %q must start with / and hold no query, fragment or space", m.Name, p)
		}
	}
	return nil
}
