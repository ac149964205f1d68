package oauth

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/sshgress/sshgress/sdk"
)

const (
	// DefaultSessionMaxAge is how long a session lasts after sign-in
	// unless session_max_age says otherwise.
	DefaultSessionMaxAge = 24 * time.Hour
	// DefaultSessionIdleTimeout ends a session that made no page load for
	// this long unless session_idle_timeout says otherwise.
	DefaultSessionIdleTimeout = 4 * time.Hour
	// SessionKeyFile is the file in the plugin's data directory that holds
	// a generated session key (base64, mode 0600).
	SessionKeyFile = "session_key"
	// defaultAuthLabel puts the auth host at auth.<base domain> unless
	// auth_host says otherwise.
	defaultAuthLabel = "auth"
	// maxProviders bounds the configured providers.
	maxProviders = 32
)

// settings is the parsed operator config.
type settings struct {
	authHost    string
	sessionKey  string // base64 as configured; "" means generate
	maxAge      time.Duration
	idleTimeout time.Duration
	providers   map[string]*provider
	seal        *sealer
}

func (s *settings) providerNames() []string {
	names := make([]string, 0, len(s.providers))
	for n := range s.providers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

var (
	providerNameRE = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)
	hostLabelRE    = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	msTenantRE     = regexp.MustCompile(`^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|common|organizations|consumers)$`)
)

// fileSettings is the config section as the operator writes it. Values
// that may come as a string or a number (durations) or as a string or a
// list (scopes) stay untyped here and are checked with their key's name.
type fileSettings struct {
	AuthHost           any                        `json:"auth_host"`
	SessionKey         any                        `json:"session_key"`
	SessionMaxAge      any                        `json:"session_max_age"`
	SessionIdleTimeout any                        `json:"session_idle_timeout"`
	Providers          map[string]json.RawMessage `json:"providers"`
}

// fileProvider is one providers.<name> section as written.
type fileProvider struct {
	ClientID     any `json:"client_id"`
	ClientSecret any `json:"client_secret"`
	Issuer       any `json:"issuer"`
	Scopes       any `json:"scopes"`
	Tenant       any `json:"tenant"`
	AuthURL      any `json:"auth_url"`
	TokenURL     any `json:"token_url"`
	APIURL       any `json:"api_url"`
}

const (
	knownSettings         = "auth_host, session_key, session_max_age, session_idle_timeout, providers"
	knownProviderSettings = "client_id, client_secret, issuer, scopes, tenant, auth_url, token_url, api_url"
)

// parseSettings reads the plugin's config section (strictly, through
// sdk.Config.Decode: an unknown key is an error). Errors name the key.
func parseSettings(cfg sdk.Config) (*settings, error) {
	s := &settings{
		maxAge:      DefaultSessionMaxAge,
		idleTimeout: DefaultSessionIdleTimeout,
		providers:   map[string]*provider{},
	}
	var f fileSettings
	if err := cfg.Decode(&f); err != nil {
		if strings.HasPrefix(err.Error(), "unknown setting ") {
			return nil, fmt.Errorf("%w (known: %s)", err, knownSettings)
		}
		return nil, err
	}
	var err error
	if f.AuthHost != nil {
		if s.authHost, err = str("auth_host", f.AuthHost); err != nil {
			return nil, err
		}
	}
	if f.SessionKey != nil {
		if s.sessionKey, err = str("session_key", f.SessionKey); err != nil {
			return nil, err
		}
	}
	if f.SessionMaxAge != nil {
		if s.maxAge, err = duration("session_max_age", f.SessionMaxAge); err != nil {
			return nil, err
		}
	}
	if f.SessionIdleTimeout != nil {
		if s.idleTimeout, err = duration("session_idle_timeout", f.SessionIdleTimeout); err != nil {
			return nil, err
		}
	}
	if err := parseProviders(s, f.Providers); err != nil {
		return nil, err
	}
	if s.authHost == "" {
		if cfg.BaseDomain == "" {
			return nil, errors.New("auth_host is not set and the edge has no base domain")
		}
		s.authHost = defaultAuthLabel + "." + strings.TrimSuffix(cfg.BaseDomain, ".")
	}
	s.authHost = strings.ToLower(strings.TrimSuffix(s.authHost, "."))
	if !validHostname(s.authHost) {
		return nil, fmt.Errorf("auth_host %q is not a host name (no scheme, port or path)", s.authHost)
	}
	if s.maxAge < time.Minute || s.maxAge > 90*24*time.Hour {
		return nil, fmt.Errorf("session_max_age %v must be between 1m and 2160h", s.maxAge)
	}
	if s.idleTimeout < time.Minute || s.idleTimeout > s.maxAge {
		return nil, fmt.Errorf("session_idle_timeout %v must be between 1m and session_max_age (%v)", s.idleTimeout, s.maxAge)
	}
	return s, nil
}

func parseProviders(s *settings, m map[string]json.RawMessage) error {
	if len(m) > maxProviders {
		return fmt.Errorf("providers: %d providers, at most %d", len(m), maxProviders)
	}
	for _, name := range slices.Sorted(maps.Keys(m)) {
		key := "providers." + name
		if !providerNameRE.MatchString(name) {
			return fmt.Errorf("%s: the name must be lowercase letters, digits, '-' and '_'", key)
		}
		var section map[string]any
		if err := json.Unmarshal(m[name], &section); err != nil || section == nil {
			return fmt.Errorf("%s must be a map of settings", key)
		}
		var fp fileProvider
		if err := (sdk.Config{Section: section}).Decode(&fp); err != nil {
			if field, ok := strings.CutPrefix(err.Error(), "unknown setting "); ok {
				return fmt.Errorf("%s.%s: unknown setting (known: %s)", key, strings.Trim(field, `"`), knownProviderSettings)
			}
			return fmt.Errorf("%s: %w", key, err)
		}
		pc := providerConfig{name: name}
		for _, v := range []struct {
			k   string
			v   any
			dst *string
		}{
			{"client_id", fp.ClientID, &pc.clientID}, {"client_secret", fp.ClientSecret, &pc.clientSecret},
			{"issuer", fp.Issuer, &pc.issuer}, {"tenant", fp.Tenant, &pc.tenant},
			{"auth_url", fp.AuthURL, &pc.authURL}, {"token_url", fp.TokenURL, &pc.tokenURL}, {"api_url", fp.APIURL, &pc.apiURL},
		} {
			if v.v == nil {
				continue
			}
			var err error
			if *v.dst, err = str(key+"."+v.k, v.v); err != nil {
				return err
			}
		}
		if fp.Scopes != nil {
			var err error
			if pc.scopes, err = strList(key+".scopes", fp.Scopes); err != nil {
				return err
			}
		}
		p, err := newProvider(pc)
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		s.providers[name] = p
	}
	return nil
}

// providerConfig is one providers.<name> section.
type providerConfig struct {
	name, clientID, clientSecret, issuer, tenant string
	authURL, tokenURL, apiURL                    string
	scopes                                       []string
}

// checkEndpointURL accepts an https URL, or an http URL whose host is a
// loopback address or localhost (for tests).
func checkEndpointURL(what, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("%s %q is not an absolute URL without query", what, raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		h := u.Hostname()
		if ip := net.ParseIP(h); (ip != nil && ip.IsLoopback()) || h == "localhost" {
			return nil
		}
		return fmt.Errorf("%s %q must use https (http only on loopback)", what, raw)
	}
	return fmt.Errorf("%s %q must use https", what, raw)
}

func validHostname(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if !hostLabelRE.MatchString(label) {
			return false
		}
	}
	return true
}

func str(key string, v any) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%s must be a string, not %T", key, v)
	}
	return strings.TrimSpace(s), nil
}

// strList accepts a list of strings or one string of space- or
// comma-separated items (as an environment variable gives it).
func strList(key string, v any) ([]string, error) {
	var items []string
	switch v := v.(type) {
	case string:
		items = strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == ',' })
	case []any:
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("%s must be a list of strings, found %T", key, e)
			}
			items = append(items, strings.TrimSpace(s))
		}
	default:
		return nil, fmt.Errorf("%s must be a list of strings, not %T", key, v)
	}
	if len(items) > MaxScopes {
		return nil, fmt.Errorf("%s: %d items, at most %d", key, len(items), MaxScopes)
	}
	var out []string
	for _, s := range items {
		if s == "" || strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r > '~' || r == '"' || r == '\\' }) {
			return nil, fmt.Errorf("%s: %q is not a valid scope", key, s)
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out, nil
}

// duration accepts a Go duration string ("24h", "90m") or a number of
// seconds.
func duration(key string, v any) (time.Duration, error) {
	switch v := v.(type) {
	case string:
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil {
			return 0, fmt.Errorf("%s %q is not a duration like \"24h\" or \"90m\"", key, v)
		}
		return d, nil
	case float64:
		return time.Duration(v * float64(time.Second)), nil
	}
	return 0, fmt.Errorf("%s must be a duration like \"24h\", not %T", key, v)
}

// loadSessionKey decodes the configured key, or reads the key generated
// into dataDir, or generates one there.
func loadSessionKey(configured, dataDir string) ([]byte, error) {
	if configured != "" {
		key, err := decodeKey(configured)
		if err != nil {
			return nil, fmt.Errorf("session_key: %w", err)
		}
		return key, nil
	}
	if dataDir == "" {
		return nil, errors.New("session_key is not set and the plugin has no data directory to keep a generated one in; set session_key (32 random bytes in base64: openssl rand -base64 32)")
	}
	path := filepath.Join(dataDir, SessionKeyFile)
	raw, err := os.ReadFile(path)
	if err == nil {
		key, err := decodeKey(strings.TrimSpace(string(raw)))
		if err != nil {
			return nil, fmt.Errorf("session key file %s: %w", path, err)
		}
		return key, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read session key: %w", err)
	}
	key := make([]byte, 32)
	rand.Read(key)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return loadSessionKey("", dataDir) // another instance won the race
	}
	if err != nil {
		return nil, fmt.Errorf("create session key: %w", err)
	}
	_, werr := f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		os.Remove(path)
		return nil, fmt.Errorf("write session key: %w", werr)
	}
	return key, nil
}

// decodeKey decodes 32 bytes of standard or URL-safe base64, padded or not.
func decodeKey(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if key, err := enc.DecodeString(s); err == nil {
			if len(key) != 32 {
				return nil, fmt.Errorf("the key is %d bytes, want 32 (openssl rand -base64 32)", len(key))
			}
			return key, nil
		}
	}
	return nil, errors.New("the key is not base64 (openssl rand -base64 32)")
}
