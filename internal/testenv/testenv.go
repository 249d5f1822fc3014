// Package testenv finds what ORT-backed tests need: the ONNX Runtime
// library and the embedded model. Tests skip with a clear message when the
// library is missing (run scripts/setup-ort.sh), except in strict mode
// (CI=true, see Strict), where a missing library is a failure.
package testenv

import (
	"path/filepath"
	"runtime"
	"testing"

	"github.com/vlmrun/vlmrun/internal/ortx"
)

// Repo returns the repository root.
func Repo(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Model returns the embedded model's folder.
func Model(t testing.TB) string {
	return filepath.Join(Repo(t), "models", "scenes-tiny")
}

// ORT loads the ONNX Runtime library or skips the test.
func ORT(t testing.TB) {
	t.Helper()
	if _, err := ortx.Setup(""); err != nil {
		Missing(t, "%v", err)
	}
}
