package agent

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestRotateLog(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "0.log")
	write := func(n int) {
		if err := os.WriteFile(path, make([]byte, n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	reopened := 0
	reopen := func() error { reopened++; write(0); return nil }
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

	write(100)
	if err := rotateLog(path, 100, 3, now, reopen); err != nil || reopened != 0 {
		t.Fatalf("a log at the limit was rotated: %v, %d", err, reopened)
	}
	for i := range 4 {
		write(101)
		if err := rotateLog(path, 100, 3, now.Add(time.Duration(i)*time.Second), reopen); err != nil {
			t.Fatal(err)
		}
	}
	if reopened != 4 {
		t.Fatalf("reopened %d times, want 4", reopened)
	}
	old, _ := filepath.Glob(path + ".*")
	if len(old) != 2 || filepath.Base(old[0]) != "0.log.20260101-000002.000000000" {
		t.Fatalf("kept %v, want the 2 newest rotated files", old)
	}

	// A runtime that cannot reopen keeps writing the same file: it stays.
	write(200)
	if err := rotateLog(path, 100, 3, now.Add(time.Hour), func() error { return errors.New("no") }); err == nil {
		t.Fatal("a failed reopen was not reported")
	}
	if st, err := os.Stat(path); err != nil || st.Size() != 200 {
		t.Fatalf("the live log was not put back: %v", err)
	}
}
