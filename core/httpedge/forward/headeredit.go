package forward

import (
	"net/http"
	"slices"

	"github.com/sshgress/sshgress/sdk"
)

// HeaderEdit is a fixed rewrite of a header map: names removed, then
// fields added, compiled once (a tunnel's static sdk.HeaderEdits) and
// applied per message with no lookup beyond the map's own. A nil
// *HeaderEdit edits nothing. It is immutable and safe for concurrent use.
type HeaderEdit struct {
	remove []string // canonical names
	add    []addField
}

// addField is one field to add: a canonical name and its value as a
// one-element slice of capacity 1, shared by every message it is added
// to (an append to it copies).
type addField struct {
	name string
	one  []string
}

// NewHeaderEdit compiles removals and additions, which the caller has
// validated (sdk.HeaderEdits.Validate); nil when both are empty.
func NewHeaderEdit(remove []string, add []sdk.HeaderField) *HeaderEdit {
	if len(remove) == 0 && len(add) == 0 {
		return nil
	}
	e := &HeaderEdit{}
	for _, name := range remove {
		name = http.CanonicalHeaderKey(name)
		if !slices.Contains(e.remove, name) {
			e.remove = append(e.remove, name)
		}
	}
	for _, f := range add {
		e.add = append(e.add, addField{name: http.CanonicalHeaderKey(f.Name), one: []string{f.Value}[:1:1]})
	}
	return e
}

// Apply removes e's names from h, then adds its fields: a name h already
// has gets one more value. h's keys must be canonical, as net/http's are.
// Value slices of h are never written in place, so h may share them with
// another map.
func (e *HeaderEdit) Apply(h http.Header) {
	if e == nil {
		return
	}
	for _, name := range e.remove {
		delete(h, name)
	}
	for _, f := range e.add {
		if old, ok := h[f.name]; ok {
			h[f.name] = append(slices.Clip(old), f.one[0])
		} else {
			h[f.name] = f.one
		}
	}
}

// Names returns the names e removes and the names it adds, in order (for
// the owner's banner: values are left out, they may be credentials).
func (e *HeaderEdit) Names() (removed, added []string) {
	if e == nil {
		return nil, nil
	}
	for _, f := range e.add {
		if !slices.Contains(added, f.name) {
			added = append(added, f.name)
		}
	}
	return slices.Clone(e.remove), added
}
