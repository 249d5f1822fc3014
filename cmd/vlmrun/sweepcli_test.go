package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vlmrun/vlmrun/bench"
	"github.com/vlmrun/vlmrun/eval"
	"github.com/vlmrun/vlmrun/internal/testenv"
)

func TestBenchCLI(t *testing.T) {
	testenv.ORT(t)
	img := filepath.Join(testenv.Repo(t), "examples", "scene-4-small.png")
	code, out, errOut := runCLI(t, nil, "bench", "--threads", "1", "-n", "1", "--warmup", "0",
		"--max-new-tokens", "4", "--prune", "stride,fastv", "--keep", "0.5", "--json", img)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var rep bench.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rep.Rows {
		got = append(got, fmt.Sprintf("%s/%s/%s", r.Method, r.Keep, r.DecoderForm))
	}
	want := "none//merged none//layers stride/0.5/merged fastv/0.5/layers"
	if strings.Join(got, " ") != want {
		t.Errorf("rows %v, want %s", got, want)
	}
	if rep.Runs != 1 || rep.Env.ORT == "" || rep.Model.Vision.FLOPs <= 0 {
		t.Errorf("report %+v", rep)
	}
	code, out, _ = runCLI(t, nil, "bench", "--threads", "1", "-n", "1", "--warmup", "0",
		"--max-new-tokens", "2", "--csv", "--no-baseline", "--prune", "pool", "--keep", "16", img)
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if code != 0 || err != nil || len(recs) != 2 || recs[1][0] != "pool" {
		t.Errorf("csv: exit %d, %v, %q", code, err, recs)
	}
	for _, args := range [][]string{
		{"bench"},
		{"bench", "--json", "--csv", img},
		{"bench", "--prune", "nosuch", img},
		{"bench", "--keep", "2.5", "--prune", "stride", img},
		{"bench", "-n", "0", img},
	} {
		if code, _, e := runCLI(t, nil, args...); code != 2 || e == "" {
			t.Errorf("%v: exit %d, stderr %q", args, code, e)
		}
	}
}

func TestEvalSweepScenes(t *testing.T) {
	testenv.ORT(t)
	code, out, errOut := runCLI(t, nil, "eval", "--threads", "1", "--count", "3", "--size", "96",
		"--prune", "stride,oracle", "--keep", "0.5", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var rep eval.SweepReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) != 3 || rep.Rows[0].Method != "none" || rep.Rows[2].Method != "oracle" {
		t.Fatalf("rows %+v", rep.Rows)
	}
	if r := rep.Rows[0]; r.Metrics["agreement_with_unpruned"] != 1 || r.KeepRatio != 1 {
		t.Errorf("baseline %+v", r)
	}
	for _, r := range rep.Rows[1:] {
		if r.KeepRatio != 0.5 || len(r.Metrics) != 3 {
			t.Errorf("row %+v", r)
		}
	}
}

func TestEvalSweepData(t *testing.T) {
	testenv.ORT(t)
	dir := t.TempDir()
	ex := filepath.Join(testenv.Repo(t), "examples")
	jsonl := fmt.Sprintf(`{"image": %q, "captions": ["a large red cross on the right", "a red cross"]}
{"image": %q, "caption": "a large blue square on the left"}
`, filepath.Join(ex, "scene-4-small.png"), filepath.Join(ex, "scene-0.png"))
	path := filepath.Join(dir, "d.jsonl")
	if err := os.WriteFile(path, []byte(jsonl), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, nil, "eval", "--threads", "1", "--data", path, "--prune", "stride",
		"--keep", "0.5,0.25", "--csv")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(recs) != 4 || recs[0][4] != "bleu4" || recs[1][0] != "none" || recs[3][1] != "0.25" {
		t.Errorf("csv %v: %q", err, recs)
	}
	if code, _, e := runCLI(t, nil, "eval", "--data", path, "--prune", "oracle"); code == 0 || !strings.Contains(e, "oracle") {
		t.Errorf("oracle on a dataset: exit %d, %q", code, e)
	}
	if code, _, e := runCLI(t, nil, "eval", "--data", filepath.Join(dir, "none.jsonl")); code != 1 || e == "" {
		t.Errorf("missing dataset: exit %d, %q", code, e)
	}
}
