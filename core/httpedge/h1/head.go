package h1

// headScan checks a request head's raw bytes, in the order they arrive,
// for what net/http's parser accepts but an edge in front of another
// server must refuse, because the two could read the message differently
// (request smuggling, RFC 9112 §11.2):
//
//   - a line ending in LF alone, or a CR not followed by LF (§2.2);
//   - a header line starting with a space or tab (obs-fold, §5.2);
//   - more than one Content-Length line, even with equal values (§6.3);
//   - Content-Length together with Transfer-Encoding (§6.1).
//
// It stops at the empty line that ends the head; body bytes read ahead in
// the same read are not looked at.
type headScan struct {
	on      bool
	done    bool
	prev    byte
	line    int // 0 is the request line
	lineLen int
	inName  bool
	name    [len("transfer-encoding") + 1]byte
	nameLen int
	cl, te  int
	hosts   int    // Host lines, for checkRequest
	problem string // the first problem found, "" when none
}

func (h *headScan) start() {
	*h = headScan{on: true}
}

// feed scans the next bytes of the head.
func (h *headScan) feed(b []byte) {
	if !h.on || h.done {
		return
	}
	for _, c := range b {
		orig := c
		if h.prev == '\r' && c != '\n' {
			h.fail("a CR not followed by LF")
		}
		switch {
		case c == '\n':
			if h.prev != '\r' {
				h.fail("a line ending in LF without CR")
			}
			if h.line > 0 && h.lineLen <= 1 {
				h.done = true
				return
			}
			h.line++
			h.lineLen = 0
			h.inName = true
			h.nameLen = 0
			h.prev = c
			continue
		case c == 0:
			h.fail("a NUL byte")
		case h.line > 0 && h.lineLen == 0 && (c == ' ' || c == '\t'):
			h.fail("a folded header line (obs-fold)")
		case h.inName && c == ':':
			h.inName = false
			h.countName()
		case h.inName && h.nameLen < len(h.name):
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			h.name[h.nameLen] = c
			h.nameLen++
		}
		h.lineLen++
		h.prev = orig
	}
}

func (h *headScan) countName() {
	switch string(h.name[:h.nameLen]) {
	case "content-length":
		h.cl++
	case "transfer-encoding":
		h.te++
	case "host":
		h.hosts++
	}
}

func (h *headScan) fail(problem string) {
	if h.problem == "" {
		h.problem = problem
	}
}

// result stops the scan and returns the head's problem, "" when none.
func (h *headScan) result() string {
	h.on = false
	switch {
	case h.problem != "":
		return h.problem
	case h.cl > 1:
		return "more than one Content-Length"
	case h.cl > 0 && h.te > 0:
		return "both Content-Length and Transfer-Encoding"
	}
	return ""
}
