package batch

import (
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// imageExts are the file extensions a folder walk picks up (any case).
var imageExts = []string{".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp"}

// IsImageName reports whether name has an image extension.
func IsImageName(name string) bool {
	return slices.Contains(imageExts, strings.ToLower(filepath.Ext(name)))
}

// Expand turns arguments into the sorted, de-duplicated list of image
// paths to caption:
//
//   - a folder: every file with an image extension below it (recursively;
//     names starting with "." are skipped, symbolic links to files followed);
//   - a file: itself, whatever its extension (a broken one gets an error line);
//   - a glob pattern (filepath.Match syntax): its matches, folders walked.
//
// Paths are cleaned but otherwise kept as given (relative stays relative),
// so the same arguments give the same paths, which resume and sharding
// rely on. An argument that names nothing is an error.
func Expand(args []string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	add := func(p string) {
		p = filepath.Clean(p)
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	for _, a := range args {
		matches := []string{a}
		if _, err := os.Lstat(a); err != nil {
			if !strings.ContainsAny(a, `*?[\`) {
				return nil, fmt.Errorf("batch: %w", err)
			}
			m, err := filepath.Glob(a)
			if err != nil {
				return nil, fmt.Errorf("batch: pattern %q: %w", a, err)
			}
			if len(m) == 0 {
				return nil, fmt.Errorf("batch: no file matches %q", a)
			}
			matches = m
		}
		for _, m := range matches {
			st, err := os.Stat(m)
			if err != nil {
				return nil, fmt.Errorf("batch: %w", err)
			}
			if !st.IsDir() {
				add(m)
				continue
			}
			if err := walk(m, add); err != nil {
				return nil, err
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

// walk calls add for every image file below dir.
func walk(dir string, add func(string)) error {
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() || !IsImageName(d.Name()) {
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			st, err := os.Stat(p)
			if err != nil || !st.Mode().IsRegular() {
				return nil
			}
		}
		add(p)
		return nil
	})
	if err != nil {
		return fmt.Errorf("batch: walk %s: %w", dir, err)
	}
	return nil
}

// Shard selects one of Count disjoint parts of the input. The zero Shard
// (and 0/1) selects everything.
type Shard struct {
	Index, Count int
}

// ParseShard reads "i/N" with 0 <= i < N.
func ParseShard(s string) (Shard, error) {
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(strings.TrimSpace(a))
	n, err2 := strconv.Atoi(strings.TrimSpace(b))
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return Shard{}, fmt.Errorf("batch: bad shard %q: want i/N with 0 <= i < N, e.g. 0/4", s)
	}
	return Shard{Index: i, Count: n}, nil
}

// String formats the shard as "i/N".
func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.Index, max(s.Count, 1)) }

// Has reports whether path belongs to the shard: the FNV-1a hash of its
// slash-separated form, modulo Count, is Index. A path's shard depends on
// nothing else, so machines that list the input differently still agree,
// and every path is in exactly one shard.
func (s Shard) Has(path string) bool {
	if s.Count <= 1 {
		return true
	}
	h := fnv.New64a()
	h.Write([]byte(filepath.ToSlash(path)))
	return h.Sum64()%uint64(s.Count) == uint64(s.Index)
}

// Select returns the paths in the shard, in order.
func (s Shard) Select(paths []string) []string {
	var out []string
	for _, p := range paths {
		if s.Has(p) {
			out = append(out, p)
		}
	}
	return out
}
