package ortx

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	ort "github.com/yalue/onnxruntime_go"
)

// The optimized-graph cache: ORT writes the graph it built from a file
// (after its graph transformations) to the cache the first time vlmrun
// opens the file with given options (SetOptimizedModelFilePath), and later
// processes open that graph with optimizations off instead of optimizing
// the original again. An entry is named
// <prefix>-<file>-<runtime>-<options>: prefix hashes the source file's
// absolute path (links resolved); file its size and modification time;
// runtime the ORT version and this CPU (an optimized graph may hold
// layouts for this CPU's instruction set); options the device and the
// session options that shape the graph. A changed file's first write
// deletes the entries of its older contents; entries of other runtimes
// (another ORT library, as --ort-lib picks) and of other options stay, so
// processes that alternate between them do not evict each other's. An entry is two files: the graph (.onnx,
// written under a temporary name and renamed last) and its weights as
// external data (.data), which ORT maps instead of reading them into
// memory; entries are written under a lock file per source (<prefix>.lock,
// kept), never opened twice for writing. Prepacked weights are not part of
// a saved graph: ORT prepacks again in every process.

// graphCacheVersion changes when the entry layout changes.
const graphCacheVersion = "3"

// cacheEntry returns the path of source's entry in dir for options o, and
// the prefix every entry of source shares.
func cacheEntry(dir, source string, o Options) (entry, prefix string, err error) {
	abs, err := filepath.Abs(source)
	if err != nil {
		return "", "", fmt.Errorf("ortx: graph cache: %w", err)
	}
	// one entry per file, whichever link names it (folders that link
	// their onnx/ to another's)
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	st, err := os.Stat(abs)
	if err != nil {
		return "", "", fmt.Errorf("ortx: graph cache: %w", err)
	}
	ph := sha256.Sum256([]byte(abs))
	prefix = hex.EncodeToString(ph[:8])
	// the file part: what makes every older entry of the file useless
	v := sha256.New()
	fmt.Fprintf(v, "vlmrun graph cache %s\nsource %s\nsize %d\nmtime %d\n",
		graphCacheVersion, abs, st.Size(), st.ModTime().UnixNano())
	// the runtime part: entries of another ORT library or CPU stay (they
	// are still right for that runtime)
	r := sha256.New()
	fmt.Fprintf(r, "ort %s\ncpu %s\n", Version(), cpuIdentity())
	// the options part: entries of other options stay (A/B runs, commands
	// with different settings)
	k := sha256.New()
	fmt.Fprintf(k, "device %s\noptions %s\n", o.Device, o.Tune.String())
	name := prefix + "-" + hex.EncodeToString(v.Sum(nil)[:6]) + "-" + hex.EncodeToString(r.Sum(nil)[:4]) +
		"-" + hex.EncodeToString(k.Sum(nil)[:8]) + ".onnx"
	return filepath.Join(dir, name), prefix, nil
}

// cacheable reports whether a session with options o on a graph with or
// without external data is worth caching: not when optimizations are off
// (nothing to save), not for CUDA (the saved graph would hold the
// partition of one device's run), not with external data (ORT would have
// to write the weights beside the entry; out of scope).
func cacheable(o Options, external bool) bool {
	dev, _, err := ParseDevice(o.Device)
	return err == nil && dev == "cpu" && o.Tune.Opt != "disable" && !external
}

// removeStale deletes source's entries of its older contents (a changed
// source file), keeping those of other runtimes and options, and the
// temporary graphs of writers that died before renaming theirs (called
// under the source's lock, so no live writer has one).
func removeStale(dir, prefix, keep string) {
	base := filepath.Base(keep)
	ver := base[:len(prefix)+1+12+1] // prefix-file-
	for _, pat := range []string{"-*.onnx", "-*.data", "-*.tmp"} {
		old, _ := filepath.Glob(filepath.Join(dir, prefix+pat))
		for _, p := range old {
			if strings.HasSuffix(p, ".tmp") || !strings.HasPrefix(filepath.Base(p), ver) {
				os.Remove(p)
			}
		}
	}
}

// maxUnused is how long an entry may go unused before a new entry's write
// deletes it (entries of files that no longer exist, such as test folders,
// are never replaced by removeStale).
const maxUnused = 14 * 24 * time.Hour

// pruneOld deletes the entries last used before cutoff.
func pruneOld(dir string, cutoff time.Time) {
	es, _ := filepath.Glob(filepath.Join(dir, "*.onnx"))
	for _, e := range es {
		if st, err := os.Stat(e); err == nil && st.ModTime().Before(cutoff) {
			os.Remove(strings.TrimSuffix(e, ".onnx") + ".data")
			os.Remove(e)
		}
	}
}

// openCached opens path through the cache in o.GraphCache. It returns the
// session and whether it came from an existing entry.
func openCached(path string, in, out []string, o Options, so *ort.SessionOptions) (*ort.DynamicAdvancedSession, bool, error) {
	dir := o.GraphCache
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, false, fmt.Errorf("ortx: graph cache %s: %w (pass --ort-graph-cache=off to go without it)", dir, err)
	}
	entry, prefix, err := cacheEntry(dir, path, o)
	if err != nil {
		return nil, false, err
	}
	if s, err := openEntry(entry, in, out, o, false); s != nil || err != nil {
		return s, s != nil, err
	}
	// one writer per source file at a time (processes, or sessions of one
	// graph opened at once): a second writer would rewrite, truncating
	// it first, the weights file of the entry the first has published,
	// which a third process may have mapped already (SIGBUS there)
	unlock, err := lockFile(filepath.Join(dir, prefix+".lock"))
	if err != nil {
		return nil, false, fmt.Errorf("ortx: graph cache %s: lock: %w (pass --ort-graph-cache=off to go without it)", dir, err)
	}
	defer unlock()
	if s, err := openEntry(entry, in, out, o, true); s != nil || err != nil {
		return s, s != nil, err // written while this one waited
	}
	f, err := os.CreateTemp(dir, prefix+"-*.tmp")
	if err != nil {
		return nil, false, fmt.Errorf("ortx: graph cache %s: %w (pass --ort-graph-cache=off to go without it)", dir, err)
	}
	tmp := f.Name()
	f.Close()
	defer os.Remove(tmp) // after the rename, a no-op
	if err := so.SetOptimizedModelFilePath(tmp); err != nil {
		return nil, false, fmt.Errorf("ortx: graph cache: set the optimized model path: %w", err)
	}
	// the weights go to a file beside the graph, which later sessions map
	// instead of parsing them out of the protobuf into memory (a second,
	// transient copy of every weight at session creation)
	data := strings.TrimSuffix(entry, ".onnx") + ".data"
	for k, v := range map[string]string{
		"session.optimized_model_external_initializers_file_name":         filepath.Base(data),
		"session.optimized_model_external_initializers_min_size_in_bytes": "1024",
	} {
		if err := so.AddSessionConfigEntry(k, v); err != nil {
			return nil, false, fmt.Errorf("ortx: graph cache: set %s: %w", k, err)
		}
	}
	s, err := ort.NewDynamicAdvancedSession(path, in, out, so)
	if err != nil {
		// writing the entry may be what failed (a full disk): open the
		// source without the cache; its error is the one that matters
		os.Remove(data)
		plain, perr := newOptions(o)
		if perr != nil {
			return nil, false, perr
		}
		defer plain.Destroy()
		s, err = ort.NewDynamicAdvancedSession(path, in, out, plain)
		return s, false, err
	}
	if st, err := os.Stat(tmp); err == nil && st.Size() > 0 {
		if err := os.Rename(tmp, entry); err == nil {
			removeStale(dir, prefix, entry)
			pruneOld(dir, time.Now().Add(-maxUnused))
		}
	}
	return s, false, nil
}

// openEntry opens the cache entry when it exists and returns nil, nil when
// it does not or, with drop, when it does not open (a damaged entry: then
// it is deleted, to be written again).
func openEntry(entry string, in, out []string, o Options, drop bool) (*ort.DynamicAdvancedSession, error) {
	if _, err := os.Stat(entry); err != nil {
		return nil, nil
	}
	cso, err := newOptions(o)
	if err != nil {
		return nil, err
	}
	defer cso.Destroy()
	if err := cso.SetGraphOptimizationLevel(ort.GraphOptimizationLevelDisableAll); err != nil {
		return nil, fmt.Errorf("ortx: graph cache: %w", err)
	}
	s, err := ort.NewDynamicAdvancedSession(entry, in, out, cso)
	if err == nil {
		now := time.Now()
		os.Chtimes(entry, now, now) // last use, for pruneOld
		return s, nil
	}
	if drop {
		os.Remove(strings.TrimSuffix(entry, ".onnx") + ".data")
		if rerr := os.Remove(entry); rerr != nil {
			return nil, fmt.Errorf("ortx: graph cache: entry %s does not open (%v) and cannot be removed: %w", entry, err, rerr)
		}
	}
	return nil, nil
}

var (
	cpuOnce sync.Once
	cpuID   string
)

// cpuIdentity is this CPU's model name and feature flags, hashed.
func cpuIdentity() string {
	cpuOnce.Do(func() {
		h := sha256.New()
		if f, err := os.Open("/proc/cpuinfo"); err == nil {
			sc := bufio.NewScanner(f)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			seen := map[string]bool{}
			for sc.Scan() {
				k, v, ok := strings.Cut(sc.Text(), ":")
				k = strings.TrimSpace(k)
				if ok && (k == "model name" || k == "flags" || k == "Features" || k == "CPU part") && !seen[k] {
					seen[k] = true
					fmt.Fprintf(h, "%s=%s\n", k, strings.TrimSpace(v))
				}
			}
			f.Close()
		}
		cpuID = hex.EncodeToString(h.Sum(nil)[:8])
	})
	return cpuID
}
