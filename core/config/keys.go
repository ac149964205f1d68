package config

import (
	"reflect"
	"sort"
	"strings"
	"time"
)

// Key names that are not fixed leaves of the struct tree.
const (
	keyAccounts = "accounts"
	keyPlugins  = "plugins"
)

// pluginFields are the keys allowed directly under plugins.<name>.
var pluginFields = []string{"enabled", "path", "sha256", "config"}

// schema describes the fixed keys of Config, derived from its koanf tags,
// so new fields are picked up by the unknown-key check, the environment
// mapping and the example-file test without a second list to maintain.
type schema struct {
	// leaves maps each fixed leaf key ("ssh.addr") to its Go type.
	leaves map[string]reflect.Type
	// sections are keys of nested structs ("ssh"), which a YAML file may
	// leave empty.
	sections map[string]bool
	// accountFields are the keys of one accounts list item.
	accountFields map[string]bool
}

// newSchema walks Config's koanf tags.
func newSchema() *schema {
	s := &schema{
		leaves:        make(map[string]reflect.Type),
		sections:      make(map[string]bool),
		accountFields: make(map[string]bool),
	}
	s.walk(reflect.TypeFor[Config](), "")
	for _, f := range reflect.VisibleFields(reflect.TypeFor[Account]()) {
		if tag := f.Tag.Get("koanf"); tag != "" {
			s.accountFields[tag] = true
		}
	}
	return s
}

func (s *schema) walk(t reflect.Type, prefix string) {
	for _, f := range reflect.VisibleFields(t) {
		tag := f.Tag.Get("koanf")
		if tag == "" {
			continue
		}
		key := prefix + tag
		if key == keyAccounts || key == keyPlugins {
			continue
		}
		if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeFor[time.Duration]() {
			s.sections[key] = true
			s.walk(f.Type, key+".")
			continue
		}
		s.leaves[key] = f.Type
	}
}

// leafKeys returns the fixed leaf keys, sorted.
func (s *schema) leafKeys() []string {
	keys := make([]string, 0, len(s.leaves))
	for k := range s.leaves {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// isList reports whether key holds a list of strings.
func (s *schema) isList(key string) bool {
	t, ok := s.leaves[key]
	return ok && t.Kind() == reflect.Slice
}

// unknownKey returns "" when the flattened koanf key (as koanf.Keys
// returns it) is allowed in a config file, otherwise the part of it that
// is unknown. Account items are checked separately.
func (s *schema) unknownKey(key string) string {
	if _, ok := s.leaves[key]; ok || s.sections[key] || key == keyAccounts || key == keyPlugins {
		return ""
	}
	rest, ok := strings.CutPrefix(key, keyPlugins+".")
	if !ok {
		return key
	}
	name, field, ok := strings.Cut(rest, ".")
	if !ok {
		return "" // plugins.<name> left empty
	}
	field, _, _ = strings.Cut(field, ".")
	for _, f := range pluginFields {
		if field == f {
			if f != "config" && strings.Count(rest, ".") > 1 {
				return key
			}
			return "" // plugins.<name>.config.* is the plugin's own
		}
	}
	return keyPlugins + "." + name + "." + field
}

// envKey maps the lowercased part of an environment variable after
// "SSHGRESS_" to a koanf key, or returns "" when it names no setting.
// Fixed keys match with "." read as "_"; plugin settings are
// plugins_<name>_{enabled,path,sha256} and plugins_<name>_config_<key>.
func (s *schema) envKey(name string) string {
	for key := range s.leaves {
		if strings.ReplaceAll(key, ".", "_") == name {
			return key
		}
	}
	rest, ok := strings.CutPrefix(name, keyPlugins+"_")
	if !ok {
		return ""
	}
	plugin, field, ok := strings.Cut(rest, "_")
	if !ok || plugin == "" || strings.Contains(plugin, ".") {
		return ""
	}
	switch field {
	case "enabled", "path", "sha256":
		return keyPlugins + "." + plugin + "." + field
	}
	if ck, ok := strings.CutPrefix(field, "config_"); ok && ck != "" && !strings.Contains(ck, ".") {
		return keyPlugins + "." + plugin + ".config." + ck
	}
	return ""
}
