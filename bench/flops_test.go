package bench

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/vlmrun/vlmrun/internal/testenv"
	"github.com/vlmrun/vlmrun/models"
	_ "github.com/vlmrun/vlmrun/models/scenes" // the embedded model's family
	"github.com/vlmrun/vlmrun/onnx"
	"github.com/vlmrun/vlmrun/onnx/decsplit"
)

func TestLayerFLOPs(t *testing.T) {
	// H=8, h=2, k=1, d=4, I=16, V=10.
	d := Decoder{Hidden: 8, Layers: 2, Heads: 2, KVHeads: 1, HeadDim: 4, Vocab: 10, Intermediate: 16}
	proj := 2.0 * (8*2*4 + 2*8*1*4 + 2*4*8 + 3*8*16) // per row: 2·(64+64+64+384) = 1152
	for _, tc := range []struct {
		s, past int
		want    float64
	}{
		{1, 0, proj + 4*1*1*2*4},
		{3, 0, 3*proj + 4*3*3*2*4},
		{1, 9, proj + 4*1*10*2*4},
		{2, 5, 2*proj + 4*2*7*2*4},
	} {
		if got := d.LayerFLOPs(tc.s, tc.past); got != tc.want {
			t.Errorf("LayerFLOPs(%d, %d) = %v, want %v", tc.s, tc.past, got, tc.want)
		}
	}
	if got := d.HeadFLOPs(3); got != 2*3*8*10 {
		t.Errorf("HeadFLOPs(3) = %v", got)
	}
	// Prefill: layer 0 sees 5 rows, layer 1 three (after a cut); head on 1.
	if got, want := d.PrefillFLOPs([]int{5, 3}, 1), d.LayerFLOPs(5, 0)+d.LayerFLOPs(3, 0)+d.HeadFLOPs(1); got != want {
		t.Errorf("PrefillFLOPs = %v, want %v", got, want)
	}
	// Decode: one token needs no step; three tokens need two steps.
	if got := d.DecodeFLOPs([]int{5, 3}, 1); got != 0 {
		t.Errorf("DecodeFLOPs(1 token) = %v", got)
	}
	want := d.LayerFLOPs(1, 5) + d.LayerFLOPs(1, 3) + d.LayerFLOPs(1, 6) + d.LayerFLOPs(1, 4) + 2*d.HeadFLOPs(1)
	if got := d.DecodeFLOPs([]int{5, 3}, 3); got != want {
		t.Errorf("DecodeFLOPs(3 tokens) = %v, want %v", got, want)
	}
	if got := d.KVRowBytes(); got != 2*4*1*4 {
		t.Errorf("KVRowBytes = %d", got)
	}
}

func TestReadIntermediate(t *testing.T) {
	for _, tc := range []struct {
		config string
		want   int
		err    bool
	}{
		{`{"text_config": {"intermediate_size": 1536}}`, 1536, false},
		{`{"intermediate_size": 384}`, 384, false},
		{`{"intermediate_size": 1, "text_config": {"intermediate_size": 2}}`, 2, false},
		{`{"text_config": {}}`, 0, true},
		{`not json`, 0, true},
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(tc.config), 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := ReadIntermediate(dir)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("%s: got %d, %v; want %d (error %v)", tc.config, got, err, tc.want, tc.err)
		}
	}
	if _, err := ReadIntermediate(t.TempDir()); err == nil {
		t.Error("missing config.json: no error")
	}
}

func TestCountProfile(t *testing.T) {
	prof := `[
	 {"cat":"Session","name":"model_run","args":{}},
	 {"cat":"Node","name":"mm_fence_before","args":{"op_name":"MatMul"}},
	 {"cat":"Node","name":"mm_kernel_time","args":{"op_name":"MatMul",
	   "input_type_shape":[{"float":[1,4,10,8]},{"float":[1,4,8,12]}],"output_type_shape":[{"float":[1,4,10,12]}]}},
	 {"cat":"Node","name":"lin_kernel_time","args":{"op_name":"MatMul",
	   "input_type_shape":[{"float":[1,10,16]}],"output_type_shape":[{"float":[1,10,32]}]}},
	 {"cat":"Node","name":"gemm_kernel_time","args":{"op_name":"Gemm",
	   "input_type_shape":[{"float":[16,3]}],"output_type_shape":[{"float":[3,5]}]}},
	 {"cat":"Node","name":"conv_kernel_time","args":{"op_name":"Conv",
	   "input_type_shape":[{"float":[1,3,8,8]},{"float":[6,3,3,3]},{"float":[6]}],"output_type_shape":[{"float":[1,6,4,4]}]}},
	 {"cat":"Node","name":"conv2_kernel_time","args":{"op_name":"Conv",
	   "input_type_shape":[{"float":[1,3,8,8]}],"output_type_shape":[{"float":[1,6,4,4]}]}},
	 {"cat":"Node","name":"add_kernel_time","args":{"op_name":"Add",
	   "input_type_shape":[{"float":[1,10]},{"float":[1,10]}],"output_type_shape":[{"float":[1,10]}]}}
	]`
	c, err := countProfile([]byte(prof))
	if err != nil {
		t.Fatal(err)
	}
	mm := 2.0*4*10*12*8 + 2.0*10*32*16
	gemm := 2.0 * 15 * 16 // Gemm with transA: A is K×M = 16×3, K = |A|/M = 16
	conv := 2.0 * 6 * 16 * 27
	if c.ByOp["MatMul"] != mm || c.ByOp["Gemm"] != gemm || c.ByOp["Conv"] != conv || c.FLOPs != mm+gemm+conv {
		t.Errorf("counts %+v, want MatMul %v Gemm %v Conv %v", c, mm, gemm, conv)
	}
	if c.Nodes != 4 || len(c.Uncounted) != 1 || c.Uncounted[0] != "conv2" {
		t.Errorf("nodes %d, uncounted %v", c.Nodes, c.Uncounted)
	}
	if _, err := countProfile([]byte(`[]`)); err == nil {
		t.Error("empty profile: no error")
	}
	// q8 and q4 files: MatMulInteger (uint8 A) and MatMulNBits (packed B)
	// count like MatMul, from A's last dimension and the output
	q := `[
	 {"cat":"Node","name":"mi_kernel_time","args":{"op_name":"MatMulInteger",
	   "input_type_shape":[{"uint8":[1,10,16]},{"int8":[16,32]}],"output_type_shape":[{"int32":[1,10,32]}]}},
	 {"cat":"Node","name":"nb_kernel_time","args":{"op_name":"MatMulNBits",
	   "input_type_shape":[{"float":[1,10,64]},{"uint8":[32,2,16]},{"float":[64]}],"output_type_shape":[{"float":[1,10,32]}]}}
	]`
	c, err = countProfile([]byte(q))
	if err != nil {
		t.Fatal(err)
	}
	if mi, nb := 2.0*10*32*16, 2.0*10*32*64; c.ByOp["MatMulInteger"] != mi || c.ByOp["MatMulNBits"] != nb || c.Nodes != 2 {
		t.Errorf("quantized counts %+v, want MatMulInteger %v MatMulNBits %v", c, mi, nb)
	}
}

// The FLOPs model equals the matrix-product work ORT reports for the
// embedded model's decoder graphs.
func TestDecoderFormulaMatchesGraphs(t *testing.T) {
	testenv.ORT(t)
	dir := testenv.Model(t)
	spec, err := models.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	inter, err := ReadIntermediate(dir)
	if err != nil {
		t.Fatal(err)
	}
	d := DecoderOf(spec.Text, inter)
	kv := func(n int) []int64 { return []int64{1, int64(d.KVHeads), int64(n), int64(d.HeadDim)} }
	layer := oneLayerGraph(t, spec.Files.Decoder)
	for _, tc := range []struct{ s, past int }{{70, 0}, {1, 69}, {10, 5}} {
		t.Run(fmt.Sprintf("layer s=%d past=%d", tc.s, tc.past), func(t *testing.T) {
			c, err := GraphFLOPs(layer, map[string][]int64{
				"vlmrun_hidden_in": {1, int64(tc.s), int64(d.Hidden)}, "attention_mask": {1, int64(tc.s + tc.past)},
				"position_ids": {1, int64(tc.s)}, "past_key_values.1.key": kv(tc.past),
				"past_key_values.1.value": kv(tc.past), "vlmrun_attn_rows": {1}})
			if err != nil {
				t.Fatal(err)
			}
			if want := d.LayerFLOPs(tc.s, tc.past); !relClose(c.FLOPs, want) {
				t.Errorf("graph %v FLOPs, formula %v", c.FLOPs, want)
			}
		})
	}
	t.Run("merged s=20 past=3", func(t *testing.T) {
		shapes := map[string][]int64{"inputs_embeds": {1, 20, int64(d.Hidden)}, "attention_mask": {1, 23}, "position_ids": {1, 20}}
		for i := 0; i < d.Layers; i++ {
			shapes[fmt.Sprintf("past_key_values.%d.key", i)] = kv(3)
			shapes[fmt.Sprintf("past_key_values.%d.value", i)] = kv(3)
		}
		c, err := GraphFLOPs(spec.Files.Decoder, shapes)
		if err != nil {
			t.Fatal(err)
		}
		if want := float64(d.Layers)*d.LayerFLOPs(20, 3) + d.HeadFLOPs(20); !relClose(c.FLOPs, want) {
			t.Errorf("graph %v FLOPs, formula %v", c.FLOPs, want)
		}
	})
}

func relClose(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Abs(b) }

// oneLayerGraph derives decoder layer 1 alone from the merged decoder (as
// in-decoder pruning does) and writes it, weights included, to a temporary
// file.
func oneLayerGraph(t *testing.T, merged string) string {
	t.Helper()
	m, err := onnx.Open(merged)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	p, err := decsplit.Analyze(m, merged)
	if err != nil {
		t.Fatal(err)
	}
	st, err := p.Stages([]int{0, 1})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "layer1.onnx")
	if err := os.WriteFile(path, st[1].Model.MarshalSelfContained(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
