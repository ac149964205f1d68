package compress

import "strings"

// compressibleTypes are the media types, besides text/* (but
// text/event-stream), whose bodies the edge compresses: textual formats
// and a few binary ones that are not compressed already. Everything else
// (images, audio, video, archives, fonts in woff/woff2, octet streams)
// passes untouched. This is the one list; docs/endpoints.md repeats it.
var compressibleTypes = map[string]bool{
	"application/javascript":        true,
	"application/ecmascript":        true,
	"application/x-javascript":      true,
	"application/json":              true,
	"application/x-ndjson":          true,
	"application/xml":               true,
	"application/xhtml+xml":         true,
	"application/yaml":              true,
	"application/toml":              true,
	"application/graphql":           true,
	"application/wasm":              true,
	"application/vnd.ms-fontobject": true,
	"application/x-font-ttf":        true,
	"font/ttf":                      true,
	"font/otf":                      true,
	"image/svg+xml":                 true,
	"image/x-icon":                  true,
	"image/vnd.microsoft.icon":      true,
	"image/bmp":                     true,
}

// Compressible reports whether a body of Content-Type ct is worth
// compressing: text/* except text/event-stream (a stream of small events
// the visitor must get at once; see docs/endpoints.md), any +json or +xml
// type, and compressibleTypes. Parameters (charset) are ignored; an empty
// or unparsable type is not compressible.
func Compressible(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	typ, sub, ok := strings.Cut(mt, "/")
	if !ok || typ == "" || sub == "" {
		return false
	}
	switch {
	case typ == "text":
		return sub != "event-stream"
	case strings.HasSuffix(sub, "+json"), strings.HasSuffix(sub, "+xml"):
		return true
	}
	return compressibleTypes[mt]
}
