package smolvlm_test

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/vlmrun/vlmrun/encoder"
	"github.com/vlmrun/vlmrun/internal/ortx"
	"github.com/vlmrun/vlmrun/internal/testenv"
	"github.com/vlmrun/vlmrun/models"
	"github.com/vlmrun/vlmrun/pipeline"
)

// The float16 vision encoder's features (a float16 output, converted with
// ortx.HalfToFloat) equal the float32 encoder's within float16 precision,
// and the whole caption runs with it (issue 20, defect 9: the reported
// SIGSEGV in encoder/vision.go with --dtype fp32,vision_encoder=fp16).
func TestFP16VisionEncoder(t *testing.T) {
	testenv.ORT(t)
	dir := testdata(t, "smolvlm-twin")
	if _, err := os.Stat(filepath.Join(dir, "onnx", "vision_encoder_fp16.onnx")); err != nil {
		t.Fatalf("the twin has no fp16 vision encoder: %v", err)
	}
	dt, err := models.ParseDTypes("fp32,vision_encoder=fp16")
	if err != nil {
		t.Fatal(err)
	}
	spec32, err := models.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	spec16, err := models.LoadWith(dir, models.LoadOptions{DTypes: dt})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(spec16.Files.Vision, "vision_encoder_fp16.onnx") {
		t.Fatalf("--dtype vision_encoder=fp16 chose %s", spec16.Files.Vision)
	}
	_, outs, err := ortx.Inspect(spec16.Files.Vision, ortx.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	if info, ok := ortx.Info(outs, spec16.Outputs.Features); !ok || info.DataType != ort.TensorElementDataTypeFloat16 {
		t.Logf("note: %s's features output is %v, not float16", spec16.Files.Vision, info.DataType)
	}
	open := func(s *models.Spec) *encoder.Vision {
		v, err := encoder.OpenVision(encoder.VisionGraph{Path: s.Files.Vision, Width: s.Preprocess.Width,
			Height: s.Preprocess.Height, Features: s.Outputs.Features}, ortx.Options{Threads: 1})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	v32, v16 := open(spec32), open(spec16)
	defer v32.Destroy()
	defer v16.Destroy()
	px, err := spec32.PreprocessImage(textured(64, 48, 0))
	if err != nil {
		t.Fatal(err)
	}
	for _, batch := range []int{1, px.Images} {
		a, err := v32.EncodeChunks(px.Data, px.Images, batch)
		if err != nil {
			t.Fatal(err)
		}
		b, err := v16.EncodeChunks(px.Data, px.Images, batch)
		if err != nil {
			t.Fatalf("fp16 encoder, %d per call: %v", batch, err)
		}
		if a.Features.Rows != b.Features.Rows || a.Features.Cols != b.Features.Cols {
			t.Fatalf("shapes %dx%d vs %dx%d", a.Features.Rows, a.Features.Cols, b.Features.Rows, b.Features.Cols)
		}
		var maxAbs, maxDiff float64
		for i, x := range a.Features.Data {
			y := b.Features.Data[i]
			if math.IsNaN(float64(y)) || math.IsInf(float64(y), 0) {
				t.Fatalf("fp16 feature %d is %v", i, y)
			}
			maxAbs = max(maxAbs, math.Abs(float64(x)))
			maxDiff = max(maxDiff, math.Abs(float64(x-y)))
		}
		// float16 keeps 11 significant bits; a few layers of rounding stay
		// within a few per cent of the largest feature.
		if maxDiff > 0.05*maxAbs+1e-3 {
			t.Errorf("%d per call: fp16 features differ from fp32 by up to %g (largest |feature| %g)", batch, maxDiff, maxAbs)
		}
	}
	p, err := pipeline.Open(dir, pipeline.Options{ORT: ortx.Options{Threads: 1}, DTypes: dt})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	img, err := os.ReadFile(filepath.Join(testenv.Repo(t), "examples", "scene-0.png"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.Caption(context.Background(), "scene-0.png", strings.NewReader(string(img)), pipeline.Request{MaxNewTokens: 4}, nil)
	if err != nil || len(res.GeneratedIDs) == 0 {
		t.Fatalf("caption with the fp16 vision encoder: %v", err)
	}
}
