// Package usererr marks errors whose text is written for the person who
// caused them: the SSH user in their session, or a visitor on an error page.
//
// Internal errors may carry paths, addresses or library detail; a user error
// carries one deliberate sentence and never a secret. Code that reports to a
// user shows Message(err) and logs the full error.
package usererr

import (
	"errors"
	"fmt"
)

// Error is an error whose Error text is fit to show the user verbatim.
type Error struct {
	msg   string
	cause error
}

// New returns a user error with the given message.
func New(msg string) error { return &Error{msg: msg} }

// Errorf formats a user error. A %w verb wraps an internal cause that is
// logged but whose text is still part of the message, so wrap only errors
// whose text is itself fit for users.
func Errorf(format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	return &Error{msg: err.Error(), cause: errors.Unwrap(err)}
}

// Wrap attaches a user-facing message to an internal cause. The cause is
// kept for logs and errors.Is; the user sees only msg.
func Wrap(cause error, msg string) error { return &Error{msg: msg, cause: cause} }

func (e *Error) Error() string { return e.msg }

// Unwrap returns the internal cause, if any.
func (e *Error) Unwrap() error { return e.cause }

// Message returns the text to show a user for err: the user message when
// err is or wraps a user Error, otherwise fallback.
func Message(err error, fallback string) string {
	var u *Error
	if errors.As(err, &u) {
		return u.msg
	}
	return fallback
}

// Is reports whether err is or wraps a user Error.
func Is(err error) bool {
	var u *Error
	return errors.As(err, &u)
}
