package forward

import (
	"net/http"
	"strconv"
)

// Failure is why Forward answered a request itself, with a page from
// Options.ErrorPage, instead of with the upstream's response. Its Status
// is the HTTP status of that page and the one Forward reports.
type Failure int

const (
	// UpstreamDown: the tunnel owner's local service could not be reached
	// or closed the connection without answering (502).
	UpstreamDown Failure = iota + 1
	// BadResponse: what the local service sent is not a valid HTTP
	// response, or not the protocol switch that was asked for (502).
	BadResponse
	// Unavailable: the tunnel's channel limit is reached (503).
	Unavailable
	// BadBody: the visitor's request body was badly framed or cut short:
	// the visitor's fault, never blamed on the upstream (400).
	BadBody
	// BodyTimeout: the visitor's request body stopped arriving (408).
	BodyTimeout
	// MethodNotAllowed: a CONNECT request, which is never forwarded (405).
	MethodNotAllowed
	// ReviewFailed: a plugin that must review the response head failed,
	// was late or answered nonsense, so the response is not delivered
	// (503).
	ReviewFailed
)

// Status returns the HTTP status code of f's page: 502 for an unknown
// Failure.
func (f Failure) Status() int {
	switch f {
	case Unavailable, ReviewFailed:
		return http.StatusServiceUnavailable
	case BadBody:
		return http.StatusBadRequest
	case BodyTimeout:
		return http.StatusRequestTimeout
	case MethodNotAllowed:
		return http.StatusMethodNotAllowed
	}
	return http.StatusBadGateway
}

func (f Failure) String() string {
	switch f {
	case UpstreamDown:
		return "upstream did not answer"
	case BadResponse:
		return "invalid upstream response"
	case Unavailable:
		return "tunnel unavailable"
	case BadBody:
		return "malformed request body"
	case BodyTimeout:
		return "request body timed out"
	case MethodNotAllowed:
		return "method not allowed"
	case ReviewFailed:
		return "response review failed"
	}
	return "forward.Failure(" + strconv.Itoa(int(f)) + ")"
}

// writePlainPage is the ErrorPage of an Options that sets none: a short
// plain-text page with f's status.
func writePlainPage(w http.ResponseWriter, _ *http.Request, f Failure) {
	http.Error(w, strconv.Itoa(f.Status())+" "+f.String(), f.Status())
}
