// Package tjsref runs the transformers.js 4.3.1 reference
// (scripts/transformersjs-ref/run.js) for the families' differential tests.
package tjsref

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/vlmrun/vlmrun/internal/testenv"
)

// Available reports whether node and transformers.js are installed. When
// they are not, it fails t if they are required ($VLMRUN_REQUIRE_TJS, or
// must, e.g. for -update) and otherwise logs that the committed goldens are
// used.
func Available(t testing.TB, must bool) bool {
	t.Helper()
	dir := filepath.Join(testenv.Repo(t), "scripts", "transformersjs-ref")
	_, errNode := exec.LookPath("node")
	_, errMod := os.Stat(filepath.Join(dir, "node_modules", "@huggingface", "transformers", "package.json"))
	if errNode == nil && errMod == nil {
		return true
	}
	if os.Getenv("VLMRUN_REQUIRE_TJS") != "" || must {
		t.Fatalf("transformers.js reference not installed (run scripts/setup-transformersjs.sh): node: %v, module: %v", errNode, errMod)
	}
	t.Logf("transformers.js not installed (scripts/setup-transformersjs.sh): comparing with testdata/golden.json only")
	return false
}

// Result is run.js's output for one case: its JSON record and the
// pixel_values it computed.
type Result struct {
	JSON   []byte
	Pixels []float32
}

// Run gives run.js the cases (marshalled to JSON, each with a "name" among
// names) and returns each case's result.
func Run(t testing.TB, cases any, names []string) map[string]Result {
	t.Helper()
	dir := filepath.Join(testenv.Repo(t), "scripts", "transformersjs-ref")
	tmp := t.TempDir()
	spec, err := json.Marshal(cases)
	if err != nil {
		t.Fatal(err)
	}
	casesPath := filepath.Join(tmp, "cases.json")
	if err := os.WriteFile(casesPath, spec, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", "run.js", casesPath, filepath.Join(tmp, "out"))
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("transformers.js reference run failed: %v\n%s", err, out)
	}
	res := map[string]Result{}
	for _, name := range names {
		data, err := os.ReadFile(filepath.Join(tmp, "out", name+".json"))
		if err != nil {
			t.Fatalf("%s: reference result: %v", name, err)
		}
		raw, err := os.ReadFile(filepath.Join(tmp, "out", name+".pixels.f32"))
		if err != nil {
			t.Fatalf("%s: reference pixels: %v", name, err)
		}
		px := make([]float32, len(raw)/4)
		for i := range px {
			px[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
		res[name] = Result{JSON: data, Pixels: px}
	}
	return res
}

// Digest is the sha256 of x's little-endian float32 bytes.
func Digest(x []float32) string {
	h := sha256.New()
	b := make([]byte, 4)
	for _, v := range x {
		binary.LittleEndian.PutUint32(b, math.Float32bits(v))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Sum is x's sum rounded to 4 decimals (a golden's human-readable check).
func Sum(x []float32) float64 {
	s := 0.0
	for _, v := range x {
		s += float64(v)
	}
	return math.Round(s*1e4) / 1e4
}

// WriteGolden writes results as a golden file: one JSON object with one
// line per case, in the order of names.
func WriteGolden[T any](t testing.TB, path string, names []string, results map[string]T) {
	t.Helper()
	data := []byte("{\n")
	for i, name := range names {
		line, err := json.Marshal(results[name])
		if err != nil {
			t.Fatal(err)
		}
		data = fmt.Appendf(data, "%q: %s", name, line)
		if i < len(names)-1 {
			data = append(data, ',')
		}
		data = append(data, '\n')
	}
	if err := os.WriteFile(path, append(data, "}\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
}

// LoadGolden reads a golden file written by WriteGolden.
func LoadGolden[T any](t testing.TB, path string) map[string]T {
	t.Helper()
	golden := map[string]T{}
	data, err := os.ReadFile(path)
	if err == nil {
		err = json.Unmarshal(data, &golden)
	}
	if err != nil {
		t.Fatalf("golden: %v", err)
	}
	return golden
}

// PixelRecord is the pixel part of a case's reference record: run.js's
// pixel_values, and their sum and digest as a golden file keeps them.
type PixelRecord struct {
	PixelSum    float64   `json:"pixel_sum"`
	PixelSHA256 string    `json:"pixel_sha256"`
	Pixels      []float32 `json:"-"`
}

func (p *PixelRecord) setPixels(px []float32) {
	p.Pixels = px
	p.PixelSum = Sum(px)
	p.PixelSHA256 = Digest(px)
}

// Records runs the cases (see Run) and decodes each case's JSON record
// into a T, whose embedded PixelRecord gets the case's pixel_values.
func Records[T any, P interface {
	*T
	setPixels([]float32)
}](t testing.TB, cases any, names []string) map[string]T {
	t.Helper()
	res := map[string]T{}
	for name, raw := range Run(t, cases, names) {
		var r T
		if err := json.Unmarshal(raw.JSON, &r); err != nil {
			t.Fatalf("%s: reference result: %v", name, err)
		}
		P(&r).setPixels(raw.Pixels)
		res[name] = r
	}
	return res
}
