package sdk

import (
	"errors"
	"fmt"
)

// UserError is an error whose text is written for the tunnel's owner. When
// OpenTunnel returns one, the edge refuses the tunnel and prints the text
// verbatim in the user's SSH session. It travels as a gRPC status with code
// InvalidArgument.
//
// The text must never contain a secret: no passwords, tokens or keys, even
// the user's own.
type UserError struct {
	// Message is the sentence shown to the user.
	Message string
}

// UserErrorf formats a UserError.
func UserErrorf(format string, args ...any) error {
	return &UserError{Message: fmt.Sprintf(format, args...)}
}

// Error returns the message.
func (e *UserError) Error() string { return e.Message }

// AsUserError reports whether err is or wraps a UserError and returns its
// message.
func AsUserError(err error) (string, bool) {
	var u *UserError
	if errors.As(err, &u) {
		return u.Message, true
	}
	return "", false
}
