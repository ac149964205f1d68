package core

import (
	"fmt"
	"io"

	"github.com/sshgress/sshgress/core/accesslog"
)

// openAccessLog opens log.access (docs/observability.md); nil when it is
// off. stderr is where "stderr" writes (Options.AccessStderr).
func (e *Edge) openAccessLog(stderr io.Writer) error {
	l, err := accesslog.Open(e.cfg.Log.Access, e.cfg.Log.Format, stderr)
	if err != nil {
		return fmt.Errorf("config: log.access: %w", err)
	}
	e.access = l
	return nil
}

// ReopenLogs reopens the access log file by its path, so the lines after
// a rotation go to the new file (SIGHUP; logrotate's postrotate). On
// error the old file stays in use, and the error says why.
func (e *Edge) ReopenLogs() error {
	if err := e.access.Reopen(); err != nil {
		e.log.Error("access log not reopened; lines still go to the old file", "err", err)
		return err
	}
	return nil
}
