package httpedge

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
)

// readBody reads r's whole body for a plugin that must see it
// (pluginhost.Chain.WantsBody), up to Options.MiddlewareBody, and puts
// it back as r.Body for the upstream. A body over the bound, or one the
// visitor broke or stopped sending (guardBody's idle timeout), gets the
// page to answer instead; nothing reached a plugin or the upstream then.
func (e *Edge) readBody(r *http.Request) ([]byte, *Page) {
	limit := e.opts.MiddlewareBody
	if r.ContentLength > limit {
		return nil, &PageBodyTooLarge // refused before reading a byte
	}
	if r.Body == nil || r.Body == http.NoBody {
		return []byte{}, nil
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	switch {
	case err != nil:
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil, &PageBodyTimeout
		}
		return nil, &PageBadBody
	case int64(len(b)) > limit:
		return nil, &PageBodyTooLarge
	}
	r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(b))
	r.ContentLength = int64(len(b)) // a chunked body goes on with its length known
	r.TransferEncoding = nil
	return b, nil
}
