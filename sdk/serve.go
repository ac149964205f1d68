package sdk

import (
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/sshgress/sshgress/sdk/internal/wire"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
)

// Serve runs p as an sshgress plugin: it checks p's manifest, answers
// go-plugin's handshake on stdout and serves gRPC until the edge closes the
// connection. Call it from main and nothing else; a plugin must not write to
// stdout, which is the handshake channel. Serve exits the process with
// status 1 if the manifest is invalid or the binary was not started by the
// edge.
func Serve(p Plugin) {
	logger := NewLogger(os.Stderr)
	m := completeManifest(p)
	if err := m.Validate(); err != nil {
		fmt.Fprintf(os.Stderr, "sshgress plugin: %v\n", err)
		os.Exit(1)
	}
	plugin.Serve(ServeConfig(p, logger))
}

// ServeConfig returns the go-plugin configuration Serve uses for p. The
// plugintest package uses it to serve p in-process; most authors need only
// Serve.
func ServeConfig(p Plugin, logger *slog.Logger) *plugin.ServeConfig {
	return &plugin.ServeConfig{
		HandshakeConfig: wire.Handshake(),
		Plugins:         plugin.PluginSet{wire.PluginKey: &serverPlugin{impl: p, logger: logger}},
		GRPCServer:      plugin.DefaultGRPCServer,
		Logger: hclog.New(&hclog.LoggerOptions{
			Name:       "go-plugin",
			Level:      hclog.Info,
			Output:     os.Stderr,
			JSONFormat: true,
		}),
	}
}

// hclogTimeFormat is the timestamp layout go-plugin parses in relayed
// JSON log lines.
const hclogTimeFormat = "2006-01-02T15:04:05.000000Z07:00"

// NewLogger returns a logger that writes JSON lines to w in the form the
// edge's go-plugin client recognises (hclog's @level, @message and
// @timestamp keys), so a plugin's log lines reach the edge's log with their
// level and attributes. Pass os.Stderr; never stdout. It logs Info and
// above.
func NewLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: slog.LevelInfo,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.TimeKey:
				return slog.String("@timestamp", a.Value.Time().Format(hclogTimeFormat))
			case slog.MessageKey:
				return slog.String("@message", a.Value.String())
			case slog.LevelKey:
				lvl, _ := a.Value.Any().(slog.Level)
				return slog.String("@level", hclogLevel(lvl))
			}
			return a
		},
	}))
}

func hclogLevel(l slog.Level) string {
	switch {
	case l < slog.LevelDebug:
		return "trace"
	case l < slog.LevelInfo:
		return "debug"
	case l < slog.LevelWarn:
		return "info"
	case l < slog.LevelError:
		return "warn"
	default:
		return "error"
	}
}
