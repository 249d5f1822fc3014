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

	ort "github.com/yalue/onnxruntime_go"
)

// The optimized-graph cache: ORT writes the graph it built from a file
// (after its graph transformations) to the cache the first time vlmrun
// opens the file with given options (SetOptimizedModelFilePath), and later
// processes open that graph with optimizations off instead of optimizing
// the original again. Entries are keyed by the source file's absolute
// path, size and modification time, the session options that shape the
// graph, the ORT version and this CPU (an optimized graph may hold layouts
// for this CPU's instruction set), so any change opens (and writes) a new
// entry; the entry a source file had before is deleted when its new one is
// written. Prepacked weights are not part of a saved graph: ORT prepacks
// again in every process.

// graphCacheVersion changes when the entry layout changes.
const graphCacheVersion = "1"

// cacheEntry returns the path of source's entry in dir for options o, and
// the prefix every entry of source shares.
func cacheEntry(dir, source string, o Options) (entry, prefix string, err error) {
	abs, err := filepath.Abs(source)
	if err != nil {
		return "", "", fmt.Errorf("ortx: graph cache: %w", err)
	}
	st, err := os.Stat(abs)
	if err != nil {
		return "", "", fmt.Errorf("ortx: graph cache: %w", err)
	}
	ph := sha256.Sum256([]byte(abs))
	prefix = hex.EncodeToString(ph[:8])
	k := sha256.New()
	fmt.Fprintf(k, "vlmrun graph cache %s\nsource %s\nsize %d\nmtime %d\nort %s\ncpu %s\ndevice %s\noptions %s\n",
		graphCacheVersion, abs, st.Size(), st.ModTime().UnixNano(), Version(), cpuIdentity(),
		o.Device, o.Tune.String())
	return filepath.Join(dir, prefix+"-"+hex.EncodeToString(k.Sum(nil)[:12])+".onnx"), prefix, nil
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

// removeStale deletes source's other entries (a changed source file or
// changed options leave the old ones behind).
func removeStale(dir, prefix, keep string) {
	old, _ := filepath.Glob(filepath.Join(dir, prefix+"-*.onnx"))
	for _, p := range old {
		if p != keep {
			os.Remove(p)
		}
	}
}

// openCached opens path through the cache in o.GraphCache. It returns the
// session and whether it came from an existing entry.
func openCached(path string, in, out []string, o Options, so *ort.SessionOptions) (*ort.DynamicAdvancedSession, bool, error) {
	dir := o.GraphCache
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, false, fmt.Errorf("ortx: graph cache %s: %w (pass --ort-graph-cache=none to go without it)", dir, err)
	}
	entry, prefix, err := cacheEntry(dir, path, o)
	if err != nil {
		return nil, false, err
	}
	if _, err := os.Stat(entry); err == nil {
		cso, err := newOptions(o)
		if err != nil {
			return nil, false, err
		}
		defer cso.Destroy()
		if err := cso.SetGraphOptimizationLevel(ort.GraphOptimizationLevelDisableAll); err != nil {
			return nil, false, fmt.Errorf("ortx: graph cache: %w", err)
		}
		s, err := ort.NewDynamicAdvancedSession(entry, in, out, cso)
		if err == nil {
			return s, true, nil
		}
		// a damaged entry: drop it and rebuild it from the source
		if rerr := os.Remove(entry); rerr != nil {
			return nil, false, fmt.Errorf("ortx: graph cache: entry %s does not open (%v) and cannot be removed: %w", entry, err, rerr)
		}
	}
	f, err := os.CreateTemp(dir, prefix+"-*.tmp")
	if err != nil {
		return nil, false, fmt.Errorf("ortx: graph cache %s: %w (pass --ort-graph-cache=none to go without it)", dir, err)
	}
	tmp := f.Name()
	f.Close()
	defer os.Remove(tmp) // after the rename, a no-op
	if err := so.SetOptimizedModelFilePath(tmp); err != nil {
		return nil, false, fmt.Errorf("ortx: graph cache: set the optimized model path: %w", err)
	}
	s, err := ort.NewDynamicAdvancedSession(path, in, out, so)
	if err != nil {
		return nil, false, err
	}
	if st, err := os.Stat(tmp); err == nil && st.Size() > 0 {
		if err := os.Rename(tmp, entry); err == nil {
			removeStale(dir, prefix, entry)
		}
	}
	return s, false, nil
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
