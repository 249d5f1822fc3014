package main

import (
	"fmt"
	"os"
	"testing"
)

// TestMain points the user cache dir at a temporary folder, so that the
// commands the tests run with --ort-graph-cache's default ("on") write
// their ORT graphs there and not into the user's own cache (each test's
// temporary model folder would leave entries behind).
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "vlmrun-cmd-cache-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "cmd/vlmrun tests:", err)
		os.Exit(1)
	}
	os.Setenv("XDG_CACHE_HOME", dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
