package oauth

import (
	"strings"
)

// maxReturnLen bounds the path a visitor is sent back to after sign-in.
const maxReturnLen = 2048

// SafeReturnPath returns target if it is a relative path on the same host
// that a browser cannot read as another host, and "/" otherwise. It
// accepts only targets starting with one "/" followed by something other
// than "/" or "\" (which browsers read as "//"), with no ASCII control
// characters, spaces or backslashes at all (browsers drop tabs and
// newlines, turning "/\t/evil.example" into "//evil.example"), and at most
// 2048 bytes. "https://evil.example", "//evil.example" and
// "/\evil.example" all give "/".
func SafeReturnPath(target string) string {
	if len(target) == 0 || len(target) > maxReturnLen || target[0] != '/' {
		return "/"
	}
	if len(target) > 1 && (target[1] == '/' || target[1] == '\\') {
		return "/"
	}
	if strings.ContainsFunc(target, func(r rune) bool {
		return r <= ' ' || r == 0x7f || r == '\\' || r == 0xfffd
	}) {
		return "/"
	}
	return target
}

// requestTarget returns a request's path and query as a return path.
func requestTarget(path, rawQuery string) string {
	if rawQuery != "" {
		path += "?" + rawQuery
	}
	return SafeReturnPath(path)
}
