package audit

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// spool is the local file events go to while the sink is unavailable: one
// event per line (MarshalJSON, without chain fields), appended and synced
// per batch, with the byte offset replayed so far kept in a second file.
// It holds events only briefly; it is protected by file permissions (0600),
// not by the chain, which the events join when they are replayed.
type spool struct {
	f       *os.File
	offPath string
	size    int64 // bytes of complete lines
	off     int64 // bytes already replayed
}

const (
	spoolFile  = "audit-spool.jsonl"
	offsetFile = "audit-spool.offset"
)

func openSpool(dir string) (*spool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("audit: spool: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, spoolFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: spool: %w", err)
	}
	s := &spool{f: f, offPath: filepath.Join(dir, offsetFile)}
	if err := s.load(); err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

// load finds the end of the last complete line (a crash may have left half
// a line, never acknowledged) and the replay offset.
func (s *spool) load() error {
	fi, err := s.f.Stat()
	if err != nil {
		return fmt.Errorf("audit: spool: %w", err)
	}
	end := fi.Size()
	buf := make([]byte, 64<<10)
	for s.size = 0; end > 0; {
		n := min(end, int64(len(buf)))
		if _, err := s.f.ReadAt(buf[:n], end-n); err != nil {
			return fmt.Errorf("audit: spool: %w", err)
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			s.size = end - n + int64(i) + 1
			break
		}
		end -= n
	}
	if s.size != fi.Size() {
		if err := s.f.Truncate(s.size); err != nil {
			return fmt.Errorf("audit: spool: %w", err)
		}
	}
	if b, err := os.ReadFile(s.offPath); err == nil {
		off, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil || off < 0 || off > s.size {
			return fmt.Errorf("audit: spool offset file %s is damaged", s.offPath)
		}
		s.off = off
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("audit: spool: %w", err)
	}
	return nil
}

func (s *spool) empty() bool { return s.off >= s.size }

// append writes evs as lines and syncs; on failure the file is cut back.
func (s *spool) append(evs []Event) error {
	var buf bytes.Buffer
	for i := range evs {
		b, _ := evs[i].MarshalJSON()
		buf.Write(b)
		buf.WriteByte('\n')
	}
	_, err := s.f.WriteAt(buf.Bytes(), s.size)
	if err == nil {
		err = s.f.Sync()
	}
	if err != nil {
		_ = s.f.Truncate(s.size)
		return fmt.Errorf("audit: spool: %w", err)
	}
	s.size += int64(buf.Len())
	return nil
}

// replay passes spooled events to commit in batches, in order, advancing the
// offset after each commit, and empties the spool when all are in.
func (s *spool) replay(batchSize int, commit func([]Event) error, log *slog.Logger) error {
	rd := bufio.NewReader(io.NewSectionReader(s.f, s.off, s.size-s.off))
	for s.off < s.size {
		var batch []Event
		var n int64
		for len(batch) < batchSize {
			line, err := rd.ReadBytes('\n')
			n += int64(len(line))
			if len(line) > 0 {
				var e Event
				if derr := e.UnmarshalJSON(bytes.TrimSuffix(line, []byte("\n"))); derr != nil {
					log.Error("audit: skipping a damaged spool line", "offset", s.off+n-int64(len(line)), "err", derr)
				} else {
					batch = append(batch, e)
				}
			}
			if err == io.EOF {
				break
			} else if err != nil {
				return fmt.Errorf("audit: spool: %w", err)
			}
		}
		if len(batch) > 0 {
			if err := commit(batch); err != nil {
				return err
			}
		}
		s.off += n
		if err := s.saveOffset(); err != nil {
			return err
		}
	}
	// All in: start the file afresh.
	if err := s.f.Truncate(0); err != nil {
		return fmt.Errorf("audit: spool: %w", err)
	}
	s.size, s.off = 0, 0
	if err := os.Remove(s.offPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("audit: spool: %w", err)
	}
	return nil
}

func (s *spool) saveOffset() error {
	tmp := s.offPath + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err == nil {
		_, err = f.WriteString(strconv.FormatInt(s.off, 10))
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err == nil {
		err = os.Rename(tmp, s.offPath)
	}
	if err != nil {
		return fmt.Errorf("audit: spool offset: %w", err)
	}
	return nil
}

func (s *spool) close() error { return s.f.Close() }
