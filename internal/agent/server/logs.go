package server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// LogOptions select what ReadLogs writes, as the kubelet's
// /containerLogs query does.
type LogOptions struct {
	// Since drops the entries logged before it (zero: none dropped).
	Since time.Time
	// Tail is how many of the file's last lines to start with (negative:
	// all of them).
	Tail int64
	// Timestamps prefixes every output line with its RFC 3339 time.
	Timestamps bool
	// LimitBytes stops the output after that many bytes (0: no limit).
	LimitBytes int64
	// Follow keeps reading new entries while the container runs.
	Follow bool
}

// followPoll is how often a followed log file is checked for growth.
var followPoll = 200 * time.Millisecond

// errLimitReached ends a read once LimitBytes were written.
var errLimitReached = errors.New("log limit reached")

// logEntry is one line of a CRI log file:
// "2006-01-02T15:04:05.999999999Z07:00 stdout F message".
type logEntry struct {
	ts      time.Time
	stream  string
	partial bool
	msg     []byte
}

// parseCRILine reads one line of a CRI log file (without its newline).
func parseCRILine(line []byte) (logEntry, error) {
	var e logEntry
	fields := bytes.SplitN(line, []byte{' '}, 4)
	if len(fields) < 3 {
		return e, fmt.Errorf("malformed CRI log line %q", line)
	}
	ts, err := time.Parse(time.RFC3339Nano, string(fields[0]))
	if err != nil {
		return e, fmt.Errorf("malformed CRI log timestamp %q: %w", fields[0], err)
	}
	e.ts, e.stream = ts, string(fields[1])
	// The tag field is ':'-separated; its first part is P or F.
	tag, _, _ := bytes.Cut(fields[2], []byte{':'})
	e.partial = string(tag) == "P"
	if len(fields) == 4 {
		e.msg = fields[3]
	}
	return e, nil
}

// logWriter writes entries out, with timestamps at line starts and within
// the byte limit.
type logWriter struct {
	w         io.Writer
	opts      LogOptions
	written   int64
	midLine   bool // the last entry was partial: its line continues
	flush     func()
	skipUntil bool // dropping a partial line that began before Since
}

func (lw *logWriter) write(e logEntry) error {
	if !lw.opts.Since.IsZero() && e.ts.Before(lw.opts.Since) && !lw.midLine {
		lw.skipUntil = e.partial
		return nil
	}
	if lw.skipUntil {
		lw.skipUntil = e.partial
		return nil
	}
	var buf []byte
	if lw.opts.Timestamps && !lw.midLine {
		buf = append(buf, e.ts.Format(time.RFC3339Nano)...)
		buf = append(buf, ' ')
	}
	buf = append(buf, e.msg...)
	if !e.partial {
		buf = append(buf, '\n')
	}
	lw.midLine = e.partial
	limited := false
	if lw.opts.LimitBytes > 0 && lw.written+int64(len(buf)) >= lw.opts.LimitBytes {
		buf = buf[:lw.opts.LimitBytes-lw.written]
		limited = true
	}
	n, err := lw.w.Write(buf)
	lw.written += int64(n)
	if err != nil {
		return err
	}
	if limited {
		return errLimitReached
	}
	return nil
}

// tailOffset returns the offset of the n-th line from the end of f (an
// unfinished last line counts).
func tailOffset(f *os.File, n int64) (int64, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return 0, err
	}
	// starts holds the start offsets of the last n lines seen.
	var starts []int64
	r := bufio.NewReader(f)
	var off int64
	atStart := true
	for {
		chunk, err := r.ReadSlice('\n')
		if len(chunk) > 0 && atStart && n > 0 {
			if int64(len(starts)) == n {
				starts = starts[1:]
			}
			starts = append(starts, off)
		}
		off += int64(len(chunk))
		// ReadSlice splits lines longer than its buffer.
		atStart = err == nil
		if err == io.EOF {
			break
		}
		if err != nil && err != bufio.ErrBufferFull {
			return 0, err
		}
	}
	if len(starts) == 0 {
		return off, nil
	}
	return starts[0], nil
}

// ReadLogs writes the CRI log file at path to w as opts say. With
// opts.Follow it then waits for more until running reports false (the
// container stopped: what is left is read and ReadLogs returns) or ctx
// ends. flush, when not nil, is called after each batch of output.
func ReadLogs(ctx context.Context, path string, opts LogOptions, w io.Writer, running func() bool, flush func()) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	start := int64(0)
	if opts.Tail >= 0 {
		if start, err = tailOffset(f, opts.Tail); err != nil {
			return err
		}
	}
	if _, err := f.Seek(start, io.SeekStart); err != nil {
		return err
	}
	if flush == nil {
		flush = func() {}
	}
	lw := &logWriter{w: w, opts: opts, flush: flush}
	r := bufio.NewReader(f)
	var pending []byte // an unfinished line, still being written
	stopping := false
	for {
		line, err := r.ReadBytes('\n')
		if err == nil {
			if len(pending) > 0 {
				line = append(pending, line...)
				pending = nil
			}
			e, perr := parseCRILine(bytes.TrimSuffix(line, []byte{'\n'}))
			if perr != nil {
				continue // a line we cannot read is skipped, not fatal
			}
			if werr := lw.write(e); werr != nil {
				flush()
				if werr == errLimitReached {
					return nil
				}
				return werr
			}
			continue
		}
		if err != io.EOF {
			return err
		}
		pending = append(pending, line...)
		flush()
		if !opts.Follow || stopping {
			return nil
		}
		if !running() {
			// One last read for what was written before it stopped.
			stopping = true
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(followPoll):
		}
	}
}
