package testenv

import (
	"os"
	"strings"
	"testing"
)

// Strict reports whether tests run in strict mode: $CI set to anything but
// "", "0" or "false" (.ci/run exports CI=true). In strict mode a test that
// would skip because something was not installed (ONNX Runtime, the
// tokenizer reference files) fails instead, so a broken install cannot
// pass quietly as skipped tests.
func Strict() bool {
	v := strings.ToLower(strings.TrimSpace(os.Getenv("CI")))
	return v != "" && v != "0" && v != "false"
}

// Missing skips the test because something it needs is not installed, or
// fails it in strict mode. The message should say how to install it.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if Strict() {
		t.Fatalf("required in CI (CI=%s): "+format, append([]any{os.Getenv("CI")}, args...)...)
	}
	t.Skipf("skipping: "+format, args...)
}
