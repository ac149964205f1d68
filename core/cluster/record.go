package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/sshgress/sshgress/core/route"
)

// The key layout under Config.Prefix (see the package doc):
//
//	names/<name>/<node>/<instance>.<seq>   one member holding <name>; the
//	                                       holding node's lease
//	holds/<name>                           the owner a released name is
//	                                       reserved for; a lease of its own
const (
	namesDir = "names/"
	holdsDir = "holds/"
)

// Bounds of the fields a claim stores; a claim past them is refused, a
// stored value past them is ignored.
const (
	maxNameLen   = 300 // a DNS name is at most 253 bytes; "host:port" a little more
	maxOwnerLen  = 256
	maxTunnelLen = 256
	maxTermsLen  = 256
)

// record is the value of a member key: who holds the name, and how.
type record struct {
	V      int    `json:"v"`
	Node   string `json:"node"`
	Tunnel string `json:"tunnel"`
	Owner  string `json:"owner"`
	Kind   string `json:"kind"`
	Pool   bool   `json:"pool,omitempty"`
	Terms  string `json:"terms,omitempty"`
}

// holdRecord is the value of a hold key.
type holdRecord struct {
	V     int    `json:"v"`
	Owner string `json:"owner"`
}

// kinds maps the stored kind names back to route kinds.
var kinds = map[string]route.Kind{
	route.KindHTTP.String(): route.KindHTTP,
	route.KindTLS.String():  route.KindTLS,
	route.KindTCP.String():  route.KindTCP,
}

func (rec record) encode() string {
	b, _ := json.Marshal(rec) // strings and bools: cannot fail
	return string(b)
}

// decodeRecord parses a member key's value, bounded.
func decodeRecord(v []byte) (record, route.Kind, error) {
	var rec record
	if len(v) > maxValueBytes {
		return rec, 0, fmt.Errorf("value of %d bytes exceeds %d", len(v), maxValueBytes)
	}
	if err := json.Unmarshal(v, &rec); err != nil {
		return rec, 0, err
	}
	k, ok := kinds[rec.Kind]
	switch {
	case rec.V != 1:
		return rec, 0, fmt.Errorf("unknown record version %d", rec.V)
	case !ok:
		return rec, 0, fmt.Errorf("unknown kind %q", rec.Kind)
	case validNode(rec.Node) != nil:
		return rec, 0, errors.New("invalid node")
	case len(rec.Owner) > maxOwnerLen || len(rec.Tunnel) > maxTunnelLen || len(rec.Terms) > maxTermsLen:
		return rec, 0, errors.New("field too long")
	}
	return rec, k, nil
}

// decodeHold parses a hold key's value, bounded.
func decodeHold(v []byte) (holdRecord, error) {
	var h holdRecord
	if len(v) > maxValueBytes {
		return h, fmt.Errorf("value of %d bytes exceeds %d", len(v), maxValueBytes)
	}
	if err := json.Unmarshal(v, &h); err != nil {
		return h, err
	}
	if h.V != 1 {
		return h, fmt.Errorf("unknown hold version %d", h.V)
	}
	return h, nil
}

// validName checks a claimed name can be part of a key: a normalised name
// never holds '/'.
func validName(name string) error {
	switch {
	case name == "":
		return errors.New("cluster: claim: empty name")
	case len(name) > maxNameLen:
		return errors.New("cluster: claim: name too long")
	case strings.ContainsAny(name, "/\x00"):
		return errors.New("cluster: claim: name holds '/' or NUL")
	}
	return nil
}

// nameOfKey returns the name a member key (below the names directory)
// belongs to.
func nameOfKey(namesPrefix, key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, namesPrefix)
	if !ok {
		return "", false
	}
	name, _, ok := strings.Cut(rest, "/")
	return name, ok && name != ""
}
