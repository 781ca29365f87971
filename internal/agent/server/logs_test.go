package server

import (
	"bytes"
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const testLog = `2026-01-02T10:00:00.000000001Z stdout F one
2026-01-02T10:00:01Z stderr F two
2026-01-02T10:00:02Z stdout P thr
2026-01-02T10:00:02.5Z stdout P e
2026-01-02T10:00:03Z stdout F e
2026-01-02T10:00:04Z stdout F four
2026-01-02T10:00:05Z stdout F
`

func writeLog(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "0.log")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestReadLogs(t *testing.T) {
	path := writeLog(t, testLog)
	for _, tc := range []struct {
		name string
		opts LogOptions
		want string
	}{
		{"all", LogOptions{Tail: -1}, "one\ntwo\nthree\nfour\n\n"},
		{"tail 2", LogOptions{Tail: 2}, "four\n\n"},
		{"tail 0", LogOptions{Tail: 0}, ""},
		{"tail more than there is", LogOptions{Tail: 100}, "one\ntwo\nthree\nfour\n\n"},
		// A tail starting inside a partial line shows its rest.
		{"tail 4", LogOptions{Tail: 4}, "ee\nfour\n\n"},
		{"since", LogOptions{Tail: -1, Since: ts("2026-01-02T10:00:01Z")}, "two\nthree\nfour\n\n"},
		{"since mid partial line drops the line", LogOptions{Tail: -1, Since: ts("2026-01-02T10:00:02.1Z")}, "four\n\n"},
		{"limit", LogOptions{Tail: -1, LimitBytes: 6}, "one\ntw"},
		{"limit exact", LogOptions{Tail: -1, LimitBytes: 4}, "one\n"},
		{"timestamps", LogOptions{Tail: 3, Timestamps: true}, "2026-01-02T10:00:03Z e\n2026-01-02T10:00:04Z four\n2026-01-02T10:00:05Z \n"},
		{"timestamps on joined partial lines", LogOptions{Tail: -1, Since: ts("2026-01-02T10:00:02Z"), Timestamps: true, LimitBytes: 30},
			"2026-01-02T10:00:02Z three\n202"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := ReadLogs(context.Background(), path, tc.opts, &buf, nil, nil); err != nil {
				t.Fatal(err)
			}
			if buf.String() != tc.want {
				t.Errorf("got %q, want %q", buf.String(), tc.want)
			}
		})
	}
}

func TestReadLogsSkipsMalformedLines(t *testing.T) {
	path := writeLog(t, "garbage\n2026-01-02T10:00:00Z stdout F ok\nnot-a-time stdout F x\n")
	var buf bytes.Buffer
	if err := ReadLogs(context.Background(), path, LogOptions{Tail: -1}, &buf, nil, nil); err != nil {
		t.Fatal(err)
	}
	if buf.String() != "ok\n" {
		t.Errorf("got %q", buf.String())
	}
}

// lockedBuffer is written by ReadLogs while the test reads it.
type lockedBuffer struct {
	ch chan string
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.ch <- string(p)
	return len(p), nil
}

func TestReadLogsFollow(t *testing.T) {
	old := followPoll
	followPoll = 10 * time.Millisecond
	defer func() { followPoll = old }()
	path := writeLog(t, "2026-01-02T10:00:00Z stdout F first\n")
	var running atomic.Bool
	running.Store(true)
	out := &lockedBuffer{ch: make(chan string, 100)}
	done := make(chan error, 1)
	go func() {
		done <- ReadLogs(context.Background(), path, LogOptions{Tail: -1, Follow: true}, out, running.Load, nil)
	}()
	expect := func(want string) {
		t.Helper()
		select {
		case got := <-out.ch:
			if got != want {
				t.Fatalf("got %q, want %q", got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no %q within 5s", want)
		}
	}
	expect("first\n")
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// A line written in two pieces is read once complete.
	_, _ = f.WriteString("2026-01-02T10:00:01Z stdout F sec")
	time.Sleep(50 * time.Millisecond)
	_, _ = f.WriteString("ond\n")
	expect("second\n")
	// The container stops after one last line: it is read, then follow ends.
	_, _ = f.WriteString("2026-01-02T10:00:02Z stdout F last\n")
	running.Store(false)
	expect("last\n")
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("follow did not stop after the container did")
	}
}

func TestReadLogsFollowStopsWithContext(t *testing.T) {
	path := writeLog(t, "")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- ReadLogs(ctx, path, LogOptions{Tail: -1, Follow: true}, &bytes.Buffer{}, func() bool { return true }, nil)
	}()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("follow did not stop when its context ended")
	}
}

func TestLogOptions(t *testing.T) {
	now := ts("2026-01-02T10:00:00Z")
	q := url.Values{"tailLines": {"5"}, "limitBytes": {"100"}, "sinceSeconds": {"60"}, "timestamps": {"true"}, "follow": {"1"}, "previous": {"true"}}
	opts, previous, err := logOptions(q, now)
	if err != nil {
		t.Fatal(err)
	}
	want := LogOptions{Tail: 5, LimitBytes: 100, Since: ts("2026-01-02T09:59:00Z"), Timestamps: true, Follow: true}
	if opts != want || !previous {
		t.Errorf("got %+v %v, want %+v true", opts, previous, want)
	}
	if opts, _, _ := logOptions(url.Values{}, now); opts.Tail != -1 {
		t.Errorf("default tail = %d, want -1 (all)", opts.Tail)
	}
	for _, bad := range []url.Values{{"tailLines": {"-1"}}, {"limitBytes": {"0"}}, {"sinceSeconds": {"x"}}, {"sinceTime": {"yesterday"}}} {
		if _, _, err := logOptions(bad, now); err == nil || !strings.Contains(err.Error(), "invalid") {
			t.Errorf("%v: err = %v", bad, err)
		}
	}
}
