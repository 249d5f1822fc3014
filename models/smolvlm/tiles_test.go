package smolvlm_test

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"slices"
	"testing"

	"github.com/vlmrun/vlmrun/encoder"
	"github.com/vlmrun/vlmrun/internal/ortx"
	"github.com/vlmrun/vlmrun/internal/testenv"
	"github.com/vlmrun/vlmrun/models"
	"github.com/vlmrun/vlmrun/pipeline"
	"github.com/vlmrun/vlmrun/tiles"
)

// TestTileSkipLayout: on the twin (2×2 grid plus the global image), for
// every combination of skipped grid tiles, the prompt holds one <image> per
// feature row of the kept tiles, in tile order, and the kept tiles'
// features are exactly the rows they have when every tile is encoded (no
// misaligned features).
func TestTileSkipLayout(t *testing.T) {
	testenv.ORT(t)
	spec, err := models.Load(testdata(t, "smolvlm-twin"))
	if err != nil {
		t.Fatal(err)
	}
	vis, err := encoder.OpenVision(encoder.VisionGraph{Path: spec.Files.Vision, Width: spec.Preprocess.Width,
		Height: spec.Preprocess.Height, Features: spec.Outputs.Features}, ortx.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer vis.Destroy()
	img := textured(64, 48, 0)
	px, err := spec.PreprocessImage(img)
	if err != nil {
		t.Fatal(err)
	}
	if px.Rows != 2 || px.Cols != 2 || px.Images != 5 {
		t.Fatalf("twin layout %d×%d, %d images; want 2×2, 5", px.Rows, px.Cols, px.Images)
	}
	full, err := vis.EncodeBatch(px.Data, px.Images)
	if err != nil {
		t.Fatal(err)
	}
	T := spec.TokensPerImage
	D := full.Features.Cols
	s := tiles.Shape{Tiles: 5, Grid: 4, C: 3, H: spec.Preprocess.Height, W: spec.Preprocess.Width}
	for mask := 0; mask < 16; mask++ {
		keep := []bool{mask&1 == 0, mask&2 == 0, mask&4 == 0, mask&8 == 0, true}
		data, err := tiles.Compact(px.Data, s, keep)
		if err != nil {
			t.Fatal(err)
		}
		sk := px
		sk.Data, sk.Images, sk.Skip = data, 0, make([]bool, 5)
		var src []int // original tile of each kept tile
		for i, k := range keep {
			sk.Skip[i] = !k
			if k {
				sk.Images++
				src = append(src, i)
			}
		}
		got, err := vis.EncodeChunks(sk.Data, sk.Images, 2)
		if err != nil {
			t.Fatal(err)
		}
		pr, err := spec.BuildImagePrompt("", sk, got.Features.Rows)
		if err != nil {
			t.Fatalf("mask %04b: %v", mask, err)
		}
		if len(pr.ImagePos) != len(src)*T {
			t.Fatalf("mask %04b: %d image tokens for %d kept tiles", mask, len(pr.ImagePos), len(src))
		}
		for j, i := range src {
			a := got.Features.Data[j*T*D : (j+1)*T*D]
			b := full.Features.Data[i*T*D : (i+1)*T*D]
			if !slices.Equal(a, b) {
				t.Fatalf("mask %04b: kept tile %d (tile %d) features differ from the full encoding", mask, j, i)
			}
		}
		// each kept grid tile's <image> run follows its own row/col marker
		for j, i := range src[:len(src)-1] {
			first := pr.ImagePos[j*T]
			want, _ := spec.Tokenizer.TokenID(rowCol(i/2+1, i%2+1))
			if pr.IDs[first-1] != want {
				t.Fatalf("mask %04b: kept tile %d's tokens follow id %d, want <row_%d_col_%d> %d",
					mask, j, pr.IDs[first-1], i/2+1, i%2+1, want)
			}
		}
	}
}

// TestTilePruneTwin: through the pipeline, a half-uniform image skips its
// uniform tiles (reported in the timing record) and a textured one none.
func TestTilePruneTwin(t *testing.T) {
	testenv.ORT(t)
	p, err := pipeline.Open(testdata(t, "smolvlm-twin"), pipeline.Options{ORT: ortx.Options{Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, c := range []struct {
		name        string
		flatFrom    int // columns from here are flat
		skip, vtoks int
	}{
		{"half uniform", 32, 2, 3 * 16},
		{"textured", 64, 0, 5 * 16},
	} {
		var buf bytes.Buffer
		if err := png.Encode(&buf, textured(64, 64, c.flatFrom)); err != nil {
			t.Fatal(err)
		}
		req := pipeline.Request{MaxNewTokens: 3, Tiles: tiles.Default(), EncoderBatch: 1}
		res, err := p.Caption(context.Background(), c.name, bytes.NewReader(buf.Bytes()), req, nil)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if res.Timings.TilesSkipped != c.skip || res.Visual.Before != c.vtoks || res.Timings.TilesEncoded != 5-c.skip {
			t.Errorf("%s: %d skipped, %d encoded, %d visual tokens; want %d, %d, %d", c.name, res.Timings.TilesSkipped,
				res.Timings.TilesEncoded, res.Visual.Before, c.skip, 5-c.skip, c.vtoks)
		}
	}
	// the budget: at most one tile → the unsplit image
	var buf bytes.Buffer
	if err := png.Encode(&buf, textured(64, 64, 64)); err != nil {
		t.Fatal(err)
	}
	res, err := p.Caption(context.Background(), "budget", bytes.NewReader(buf.Bytes()),
		pipeline.Request{MaxNewTokens: 2, Image: models.ImageOptions{MaxImageTokens: 40}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Visual.Before != 16 {
		t.Errorf("--max-image-tokens 40: %d visual tokens, want 16", res.Visual.Before)
	}
}

func rowCol(r, c int) string {
	return "<row_" + string(rune('0'+r)) + "_col_" + string(rune('0'+c)) + ">"
}

// textured is a w×h pseudo-random image, flat grey from column flatFrom on.
func textured(w, h, flatFrom int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	s := uint32(7)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			if x >= flatFrom {
				img.SetNRGBA(x, y, color.NRGBA{120, 130, 140, 255})
				continue
			}
			s = s*1664525 + 1013904223
			img.SetNRGBA(x, y, color.NRGBA{uint8(s >> 24), uint8(s >> 16), uint8(s >> 8), 255})
		}
	}
	return img
}
