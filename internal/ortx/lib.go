// Package ortx is vlmrun's thin layer over github.com/yalue/onnxruntime_go:
// finding and loading libonnxruntime, opening sessions whose inputs and
// outputs are checked against what the caller expects, and timing every Run.
//
// Ownership rule: every ORT value is owned by exactly one Go value, which
// calls Destroy once. Tensors handed to Session.Run stay owned by the caller.
package ortx

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

// LibName is the file name of the ONNX Runtime shared library.
const LibName = "libonnxruntime.so.1"

// EnvLib is the environment variable that names the library path.
const EnvLib = "VLMRUN_ORT_LIB"

// InstallHint is the command that installs the library into the repository.
const InstallHint = "scripts/setup-ort.sh"

// ErrLibraryNotFound is returned (wrapped) when no library file is found.
var ErrLibraryNotFound = errors.New("onnx runtime library not found")

// RepoDir returns the vlmrun repository root found by walking up from dir
// (the folder holding go.mod with vlmrun's module path), or "".
func RepoDir(dir string) string {
	for d := dir; ; {
		data, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil && strings.Contains(string(data), "module github.com/vlmrun/vlmrun\n") {
			return d
		}
		parent := filepath.Dir(d)
		if parent == d {
			return ""
		}
		d = parent
	}
}

// ExeDir returns the folder of the running executable (symlinks resolved).
func ExeDir() string {
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	if r, err := filepath.EvalSymlinks(exe); err == nil {
		exe = r
	}
	return filepath.Dir(exe)
}

func platformDir() string { return "linux-" + runtime.GOARCH }

// UserDataDir returns vlmrun's per-user data folder: $XDG_DATA_HOME/vlmrun,
// else ~/.local/share/vlmrun (the XDG default), or "" without a home.
// scripts/setup-ort.sh installs the library under it, so a vlmrun binary
// built or installed outside the repository finds it.
func UserDataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "vlmrun")
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return ""
	}
	return filepath.Join(home, ".local", "share", "vlmrun")
}

// UserLib returns the library path under UserDataDir, or "".
func UserLib() string {
	d := UserDataDir()
	if d == "" {
		return ""
	}
	return filepath.Join(d, "onnxruntime", platformDir(), LibName)
}

// Candidates lists, in search order, the library paths vlmrun tries: the
// flag value, $VLMRUN_ORT_LIB, beside the executable (and its lib/ folder),
// the repository's third_party folder (found from the executable and from the
// working directory), the user data folder (UserLib: where setup-ort.sh
// also installs it), and finally the bare name for the system search path.
func Candidates(flagPath string) []string {
	var c []string
	add := func(p string) {
		if p == "" {
			return
		}
		for _, q := range c {
			if q == p {
				return
			}
		}
		c = append(c, p)
	}
	add(flagPath)
	add(os.Getenv(EnvLib))
	if d := ExeDir(); d != "" {
		add(filepath.Join(d, LibName))
		add(filepath.Join(d, "lib", LibName))
		if r := RepoDir(d); r != "" {
			add(filepath.Join(r, "third_party", "onnxruntime", platformDir(), LibName))
		}
	}
	if wd, err := os.Getwd(); err == nil {
		if r := RepoDir(wd); r != "" {
			add(filepath.Join(r, "third_party", "onnxruntime", platformDir(), LibName))
		}
	}
	add(UserLib())
	add(LibName) // dlopen's own search: LD_LIBRARY_PATH, ld.so.cache, /usr/lib...
	return c
}

// Resolve picks the library: an explicit flag or environment value must
// exist; otherwise the first existing candidate; otherwise the bare name
// when the system linker knows it. The error lists every path tried.
func Resolve(flagPath string) (string, error) {
	cands := Candidates(flagPath)
	for i, p := range cands {
		explicit := (p == flagPath && flagPath != "") || (p == os.Getenv(EnvLib) && p != "")
		if p == LibName {
			if systemHas(LibName) {
				return p, nil
			}
			continue
		}
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
		if explicit {
			src := "--ort-lib"
			if i > 0 || flagPath == "" {
				src = EnvLib
			}
			return "", fmt.Errorf("ortx: %s names %s, which does not exist: %w", src, p, ErrLibraryNotFound)
		}
	}
	return "", fmt.Errorf("ortx: %w; tried:\n  %s\ninstall it with: %s (or pass --ort-lib / set %s)",
		ErrLibraryNotFound, strings.Join(cands, "\n  "), InstallHint, EnvLib)
}

// systemHas reports whether the dynamic linker's usual folders hold name.
func systemHas(name string) bool {
	dirs := filepath.SplitList(os.Getenv("LD_LIBRARY_PATH"))
	dirs = append(dirs, "/usr/local/lib", "/usr/lib", "/lib", "/usr/lib64",
		"/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu")
	for _, d := range dirs {
		if d == "" {
			continue
		}
		if _, err := os.Stat(filepath.Join(d, name)); err == nil {
			return true
		}
	}
	return false
}

var (
	initMu   sync.Mutex
	initPath string
)

// Init loads the library at path and initializes the ORT environment. It may
// be called again with the same path; a different path is an error.
func Init(path string) error {
	initMu.Lock()
	defer initMu.Unlock()
	if ort.IsInitialized() {
		if path != initPath {
			return fmt.Errorf("ortx: already initialized with %s, cannot switch to %s", initPath, path)
		}
		return nil
	}
	ort.SetSharedLibraryPath(path)
	if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
		return fmt.Errorf("ortx: load %s: %w (vlmrun needs ONNX Runtime >= 1.24; install with %s)",
			path, err, InstallHint)
	}
	initPath = path
	return nil
}

// Setup resolves and loads the library in one step; it returns the path used.
func Setup(flagPath string) (string, error) {
	p, err := Resolve(flagPath)
	if err != nil {
		return "", err
	}
	return p, Init(p)
}

// LibraryPath returns the path Init loaded, or "".
func LibraryPath() string {
	initMu.Lock()
	defer initMu.Unlock()
	return initPath
}

// Version returns the loaded ONNX Runtime version.
func Version() string { return ort.GetVersion() }
