package dns

import (
	"log/slog"
	"os"
)

func writeFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o644) }

func slogDiscard() *slog.Logger { return slog.New(slog.DiscardHandler) }
