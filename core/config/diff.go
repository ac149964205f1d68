package config

import (
	"reflect"
	"slices"
	"time"
)

// Changed returns the keys whose values differ between a and b, sorted:
// fixed leaves by their full key ("ssh.addr"), "accounts" as one key, and
// plugins per field ("plugins.basicauth.config"). It names keys, never
// values, so its answer may be logged.
func Changed(a, b *Config) []string {
	var keys []string
	changedIn(reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem(), "", &keys)
	slices.Sort(keys)
	return keys
}

func changedIn(a, b reflect.Value, prefix string, keys *[]string) {
	for _, f := range reflect.VisibleFields(a.Type()) {
		tag := f.Tag.Get("koanf")
		if tag == "" {
			continue
		}
		key := prefix + tag
		fa, fb := a.FieldByIndex(f.Index), b.FieldByIndex(f.Index)
		switch {
		case key == keyPlugins:
			pluginsChanged(fa.Interface().(map[string]Plugin), fb.Interface().(map[string]Plugin), keys)
		case f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeFor[time.Duration]():
			changedIn(fa, fb, key+".", keys)
		case !reflect.DeepEqual(fa.Interface(), fb.Interface()):
			*keys = append(*keys, key)
		}
	}
}

// pluginsChanged compares each plugin's fields (pluginFields names them);
// enabled is compared as IsEnabled decides it.
func pluginsChanged(a, b map[string]Plugin, keys *[]string) {
	names := map[string]bool{}
	for n := range a {
		names[n] = true
	}
	for n := range b {
		names[n] = true
	}
	for n := range names {
		pa, pb := a[n], b[n]
		for _, d := range []struct {
			field string
			same  bool
		}{
			{"enabled", pa.IsEnabled() == pb.IsEnabled()},
			{"path", pa.Path == pb.Path},
			{"sha256", pa.SHA256 == pb.SHA256},
			{"config", reflect.DeepEqual(pa.Config, pb.Config)},
		} {
			if !d.same {
				*keys = append(*keys, keyPlugins+"."+n+"."+d.field)
			}
		}
	}
}
