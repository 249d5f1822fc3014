package encoder

import (
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/vlmrun/vlmrun/internal/ortx"
	"github.com/vlmrun/vlmrun/internal/testenv"
)

// Tiles encoded on three sessions at once, one tile per call or an even
// split, equal the same chunks encoded on one session, in order.
func TestEncodeOnPeers(t *testing.T) {
	testenv.ORT(t)
	path := filepath.Join(testenv.Repo(t), "models", "scenes-tiny", "onnx", "vision_encoder.onnx")
	g := VisionGraph{Path: path, Width: 96, Height: 96, Features: "image_features"}
	o := ortx.Options{Threads: 1}
	one, err := OpenVision(g, o)
	if err != nil {
		t.Fatal(err)
	}
	defer one.Destroy()
	three, err := OpenVisionN(g, o, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer three.Destroy()
	if len(three.Sessions()) != 3 || len(one.Sessions()) != 1 {
		t.Fatalf("sessions: %d and %d, want 3 and 1", len(three.Sessions()), len(one.Sessions()))
	}
	const n = 5
	r := rand.New(rand.NewPCG(1, 2))
	px := make([]float32, n*3*96*96)
	for i := range px {
		px[i] = r.Float32()*2 - 1
	}
	for _, tc := range []struct{ batch, refBatch int }{{1, 1}, {0, 2}, {2, 2}} {
		want, err := one.EncodeChunks(px, n, tc.refBatch)
		if err != nil {
			t.Fatal(err)
		}
		got, err := three.EncodeChunks(px, n, tc.batch)
		if err != nil {
			t.Fatal(err)
		}
		if got.Features.Rows != want.Features.Rows || got.Views != n || !slices.Equal(got.Features.Data, want.Features.Data) {
			t.Errorf("batch %d: %d rows (views %d) vs %d; equal %v", tc.batch, got.Features.Rows, got.Views,
				want.Features.Rows, slices.Equal(got.Features.Data, want.Features.Data))
		}
	}
	if _, err := three.EncodeChunks(px[:len(px)-1], n, 1); err == nil {
		t.Error("a short pixel tensor was encoded")
	}
	if _, err := OpenVisionN(g, o, 0); err == nil {
		t.Error("zero sessions opened")
	}
}
