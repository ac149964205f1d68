package basicauth

import (
	"encoding/base64"
	"strings"
)

// maxHeaderLen bounds the Authorization value ParseBasicAuth looks at:
// ample for a 128-character user and password in base64.
const maxHeaderLen = 4096

// ParseBasicAuth parses an Authorization header value of the Basic scheme
// (RFC 7617): the scheme name in any case, one or more spaces, then
// base64("user:password") with or without padding. The first ":" of the
// decoded text splits user and password. ok is false for any other form.
func ParseBasicAuth(header string) (user, password string, ok bool) {
	if len(header) > maxHeaderLen {
		return "", "", false
	}
	h := strings.Trim(header, " \t")
	scheme, rest, found := strings.Cut(h, " ")
	if !found || !strings.EqualFold(scheme, "Basic") {
		return "", "", false
	}
	token := strings.TrimLeft(rest, " ")
	if token == "" || strings.ContainsAny(token, " \t") {
		return "", "", false
	}
	enc := base64.StdEncoding
	if !strings.HasSuffix(token, "=") && len(token)%4 != 0 {
		enc = base64.RawStdEncoding
	}
	raw, err := enc.Strict().DecodeString(token)
	if err != nil {
		return "", "", false
	}
	user, password, found = strings.Cut(string(raw), ":")
	if !found {
		return "", "", false
	}
	return user, password, true
}
