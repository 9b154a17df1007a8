// Package privatefile reads and writes files that hold secrets (signing
// keys, pseudonym keys): written atomically with mode 0600 in a 0700
// directory, and refused on read when other users could read them.
package privatefile

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
)

// Read returns the contents of path, at most max bytes, and its FileInfo. It
// refuses a file that its group or other users may access, naming the fix.
func Read(path string, max int64) ([]byte, os.FileInfo, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return nil, nil, err
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return nil, nil, fmt.Errorf("%s is accessible to other users (mode %04o): run chmod 600 on it", path, fi.Mode().Perm())
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(io.LimitReader(fh, max+1)); err != nil {
		return nil, nil, err
	}
	if int64(buf.Len()) > max {
		return nil, nil, fmt.Errorf("%s is larger than %d bytes", path, max)
	}
	return buf.Bytes(), fi, nil
}

// Write replaces path with data atomically (a synced temporary file renamed
// over it), mode 0600, creating its directory with mode 0700.
func Write(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+"-*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if err := tmp.Chmod(0o600); err != nil && runtime.GOOS != "windows" {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
