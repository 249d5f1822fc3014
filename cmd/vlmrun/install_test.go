package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/vlmrun/vlmrun/internal/ortx"
	"github.com/vlmrun/vlmrun/internal/testenv"
)

// A binary built outside the repository (go build -o ~/bin/vlmrun) finds
// ONNX Runtime and the embedded model in the user data folder, where
// scripts/setup-ort.sh and scripts/install.sh put them, and says where it
// looked when they are missing (issue 20, smaller list).
func TestBinaryOutsideRepo(t *testing.T) {
	testenv.ORT(t)
	if testing.Short() {
		t.Skip("builds the binary")
	}
	lib, err := ortx.Resolve("")
	if err != nil {
		t.Fatal(err)
	}
	repo := testenv.Repo(t)
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "bin", "vlmrun")
	build := exec.Command("go", "build", "-o", bin, "./cmd/vlmrun")
	build.Dir = repo
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	data := filepath.Join(tmp, "data")
	work := filepath.Join(tmp, "work")
	os.MkdirAll(work, 0o755)
	runBin := func(args ...string) (string, error) {
		cmd := exec.Command(bin, args...)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+data, "VLMRUN_ORT_LIB=", "LD_LIBRARY_PATH=")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	// nothing installed: one error listing the user folder among the paths
	userLib := filepath.Join(data, "vlmrun", "onnxruntime", "linux-"+runtime.GOARCH, ortx.LibName)
	out, err := runBin("version")
	if err == nil || !strings.Contains(out, userLib) || !strings.Contains(out, "setup-ort.sh") {
		t.Errorf("without a library: err %v, output %q; want the paths tried, %s among them", err, out, userLib)
	}
	// what setup-ort.sh and install.sh put in the user folder
	os.MkdirAll(filepath.Dir(userLib), 0o755)
	if err := os.Symlink(lib, userLib); err != nil {
		t.Fatal(err)
	}
	models := filepath.Join(data, "vlmrun", "models")
	os.MkdirAll(models, 0o755)
	copyDir(t, filepath.Join(repo, "models", "scenes-tiny"), filepath.Join(models, "scenes-tiny"))
	if out, err := runBin("version"); err != nil || !strings.Contains(out, userLib) {
		t.Fatalf("version: %v\n%s", err, out)
	}
	img := filepath.Join(repo, "examples", "scene-0.png")
	if out, err := runBin("caption", "-q", img); err != nil || len(strings.TrimSpace(out)) == 0 {
		t.Fatalf("caption: %v\n%s", err, out)
	}
}
