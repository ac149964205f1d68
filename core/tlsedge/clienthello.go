package tlsedge

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Hello is what the edge needs from a ClientHello to route a connection.
type Hello struct {
	// ServerName is the SNI host name as sent ("" when absent).
	ServerName string
	// ALPN lists the protocols the client offers, in its order.
	ALPN []string
}

// ErrNotTLS is returned when the first bytes are not a TLS handshake.
var ErrNotTLS = errors.New("tlsedge: not a TLS handshake")

const (
	recordHeaderLen    = 5
	recordTypeHS       = 22
	maxRecordPlaintext = 1<<14 + 256 // TLSPlaintext.length bound (with slack, as crypto/tls)
	hsTypeClientHello  = 1
	extServerName      = 0
	extALPN            = 16
)

// ReadClientHello reads TLS records from r until it holds one whole
// ClientHello handshake message, never reading more than max bytes. It
// returns every byte read (to be replayed to whoever handles the
// connection next) and the parsed hello. The caller bounds the time with a
// read deadline.
func ReadClientHello(r io.Reader, max int) (raw []byte, h Hello, err error) {
	raw = make([]byte, 0, 1024)
	var hs []byte // handshake message bytes gathered from records
	for {
		if len(raw)+recordHeaderLen > max {
			return raw, Hello{}, fmt.Errorf("tlsedge: client hello larger than %d bytes", max)
		}
		raw = append(raw, make([]byte, recordHeaderLen)...)
		hdr := raw[len(raw)-recordHeaderLen:]
		if n, err := io.ReadFull(r, hdr); err != nil {
			return raw[:len(raw)-recordHeaderLen+n], Hello{}, fmt.Errorf("tlsedge: read record header: %w", err)
		}
		if hdr[0] != recordTypeHS || hdr[1] != 3 {
			return raw, Hello{}, ErrNotTLS
		}
		n := int(binary.BigEndian.Uint16(hdr[3:5]))
		if n == 0 || n > maxRecordPlaintext {
			return raw, Hello{}, fmt.Errorf("tlsedge: record length %d", n)
		}
		if len(raw)+n > max {
			return raw, Hello{}, fmt.Errorf("tlsedge: client hello larger than %d bytes", max)
		}
		start := len(raw)
		raw = append(raw, make([]byte, n)...)
		if m, err := io.ReadFull(r, raw[start:]); err != nil {
			return raw[:start+m], Hello{}, fmt.Errorf("tlsedge: read record: %w", err)
		}
		hs = append(hs, raw[start:]...)
		if len(hs) < 4 {
			continue
		}
		if hs[0] != hsTypeClientHello {
			return raw, Hello{}, ErrNotTLS
		}
		msgLen := int(hs[1])<<16 | int(hs[2])<<8 | int(hs[3])
		if 4+msgLen > max {
			return raw, Hello{}, fmt.Errorf("tlsedge: client hello larger than %d bytes", max)
		}
		if len(hs) < 4+msgLen {
			continue
		}
		h, err := ParseClientHello(hs[4 : 4+msgLen])
		return raw, h, err
	}
}

// reader is a bounds-checked cursor over a byte slice.
type reader struct {
	b  []byte
	ok bool
}

func (r *reader) bytes(n int) []byte {
	if !r.ok || n < 0 || n > len(r.b) {
		r.ok = false
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) u8() int {
	b := r.bytes(1)
	if b == nil {
		return 0
	}
	return int(b[0])
}

func (r *reader) u16() int {
	b := r.bytes(2)
	if b == nil {
		return 0
	}
	return int(binary.BigEndian.Uint16(b))
}

// vec reads a length-prefixed vector (prefix of 1 or 2 bytes).
func (r *reader) vec(prefix int) *reader {
	var n int
	if prefix == 1 {
		n = r.u8()
	} else {
		n = r.u16()
	}
	b := r.bytes(n)
	return &reader{b: b, ok: r.ok}
}

// errBadHello is returned for a malformed ClientHello body.
var errBadHello = errors.New("tlsedge: malformed client hello")

// ParseClientHello parses a ClientHello handshake body (after the 4-byte
// handshake header) for its SNI host name and ALPN list.
func ParseClientHello(body []byte) (Hello, error) {
	r := &reader{b: body, ok: true}
	r.bytes(2)  // legacy_version
	r.bytes(32) // random
	if sid := r.vec(1); len(sid.b) > 32 {
		return Hello{}, errBadHello
	}
	if cs := r.vec(2); !cs.ok || len(cs.b) == 0 || len(cs.b)%2 != 0 {
		return Hello{}, errBadHello
	}
	if comp := r.vec(1); !comp.ok || len(comp.b) == 0 {
		return Hello{}, errBadHello
	}
	if !r.ok {
		return Hello{}, errBadHello
	}
	var h Hello
	if len(r.b) == 0 {
		return h, nil // no extensions
	}
	exts := r.vec(2)
	if !r.ok || len(r.b) != 0 {
		return Hello{}, errBadHello
	}
	seenSNI := false
	for len(exts.b) > 0 {
		typ := exts.u16()
		data := exts.vec(2)
		if !exts.ok {
			return Hello{}, errBadHello
		}
		switch typ {
		case extServerName:
			if seenSNI {
				return Hello{}, errBadHello
			}
			seenSNI = true
			list := data.vec(2)
			if !data.ok || len(data.b) != 0 || len(list.b) == 0 {
				return Hello{}, errBadHello
			}
			for len(list.b) > 0 {
				nameType := list.u8()
				name := list.vec(2)
				if !list.ok || len(name.b) == 0 {
					return Hello{}, errBadHello
				}
				if nameType != 0 {
					continue
				}
				if h.ServerName != "" {
					return Hello{}, errBadHello
				}
				h.ServerName = string(name.b)
			}
		case extALPN:
			list := data.vec(2)
			if !data.ok || len(data.b) != 0 || len(list.b) == 0 {
				return Hello{}, errBadHello
			}
			for len(list.b) > 0 {
				p := list.vec(1)
				if !list.ok || len(p.b) == 0 {
					return Hello{}, errBadHello
				}
				if len(h.ALPN) < 32 {
					h.ALPN = append(h.ALPN, string(p.b))
				}
			}
		}
	}
	return h, nil
}
