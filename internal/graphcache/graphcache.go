// Package graphcache keeps graphs derived from a model file (decoder stage
// graphs, instrumented vision graphs) on disk, so that a later process
// reads them instead of deriving them again.
//
// An entry is named by a key that hashes the derivation's version, the
// source file's absolute path, size and modification time, and what was
// derived (the variant): a changed source file or derivation never matches
// an old entry. Entries are written to a temporary file and renamed into
// place, so a killed process never leaves a half-written one; an entry that
// is damaged anyway is the caller's to detect (it does not load) and to
// rebuild.
package graphcache

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// Key returns the cache key of the graphs derived from the file at path
// by derivation version, for variant.
func Key(version, path, variant string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("graphcache: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("graphcache: %w", err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%d\x00%d\x00%s", version, abs, st.Size(), st.ModTime().UnixNano(), variant)
	return hex.EncodeToString(h.Sum(nil))[:24], nil
}

// File is the path of graph i of the entry key in dir.
func File(dir, key string, i int) string {
	return filepath.Join(dir, key+"-"+strconv.Itoa(i)+".onnx")
}

// Read returns the n graphs of the entry key in dir, or false when any of
// them cannot be read.
func Read(dir, key string, n int) ([][]byte, bool) {
	out := make([][]byte, 0, n)
	for i := 0; i < n; i++ {
		b, err := os.ReadFile(File(dir, key, i))
		if err != nil {
			return nil, false
		}
		out = append(out, b)
	}
	return out, true
}

// Write stores graphs as the entry key in dir (created if needed), each
// through a temporary file renamed into place.
func Write(dir, key string, graphs [][]byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("graphcache: %w", err)
	}
	for i, b := range graphs {
		f, err := os.CreateTemp(dir, ".tmp-"+key+"-*")
		if err != nil {
			return fmt.Errorf("graphcache: %w", err)
		}
		_, err = f.Write(b)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(f.Name(), File(dir, key, i))
		}
		if err != nil {
			os.Remove(f.Name())
			return fmt.Errorf("graphcache: %w", err)
		}
	}
	return nil
}
