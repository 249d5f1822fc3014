package smolvlm

import (
	"strings"
	"testing"

	"github.com/vlmrun/vlmrun/models"
)

// TestChooseEdge: the real model's settings (2048 px, 512 px tiles, 64
// tokens per tile); the chosen layout never exceeds the budget and is the
// largest that fits.
func TestChooseEdge(t *testing.T) {
	p := imageProcessor{LongestEdge: 2048, Tile: 512, Split: true}
	const seq = 64
	for _, c := range []struct {
		w, h      int
		o         models.ImageOptions
		edge      int
		tokens    int
		rows, col int
	}{
		{2048, 2048, models.ImageOptions{}, 2048, 1088, 4, 4},
		{2048, 2048, models.ImageOptions{MaxImageTokens: 1088}, 2048, 1088, 4, 4},
		{2048, 2048, models.ImageOptions{MaxImageTokens: 1087}, 1536, 640, 3, 3},
		{2048, 2048, models.ImageOptions{MaxTiles: 9}, 1536, 640, 3, 3},
		{2048, 2048, models.ImageOptions{MaxTiles: 8}, 1024, 320, 2, 2},
		{2048, 2048, models.ImageOptions{MaxImageTokens: 319}, 512, 64, 0, 0},
		{2048, 2048, models.ImageOptions{MaxImageTokens: 64}, 512, 64, 0, 0},
		{2048, 2048, models.ImageOptions{MaxTiles: 1}, 512, 64, 0, 0},
		{640, 480, models.ImageOptions{}, 2048, 832, 3, 4},
		{640, 480, models.ImageOptions{MaxImageTokens: 500}, 1024, 320, 2, 2},
		{2000, 500, models.ImageOptions{MaxTiles: 3}, 1536, 256, 1, 3},
		{512, 512, models.ImageOptions{MaxImageTokens: 100}, 512, 64, 0, 0},
	} {
		edge, err := p.chooseEdge(c.w, c.h, seq, c.o)
		if err != nil {
			t.Fatalf("%d×%d %+v: %v", c.w, c.h, c.o, err)
		}
		rows, cols, tokens := p.layout(c.w, c.h, edge, seq)
		if edge != c.edge || tokens != c.tokens || rows != c.rows || cols != c.col {
			t.Errorf("%d×%d %+v: edge %d, %d×%d tiles, %d tokens; want edge %d, %d×%d, %d",
				c.w, c.h, c.o, edge, rows, cols, tokens, c.edge, c.rows, c.col, c.tokens)
		}
		if c.o.MaxImageTokens > 0 && tokens > c.o.MaxImageTokens {
			t.Errorf("%d×%d: %d tokens over the budget %d", c.w, c.h, tokens, c.o.MaxImageTokens)
		}
		if c.o.MaxTiles > 0 && rows*cols > c.o.MaxTiles {
			t.Errorf("%d×%d: %d tiles over the budget %d", c.w, c.h, rows*cols, c.o.MaxTiles)
		}
	}
	if _, err := p.chooseEdge(2048, 2048, seq, models.ImageOptions{MaxImageTokens: 63}); err == nil {
		t.Error("a budget below one tile accepted")
	}
}

// TestChooseEdgeNeverOver sweeps budgets and shapes: the layout always fits.
func TestChooseEdgeNeverOver(t *testing.T) {
	p := imageProcessor{LongestEdge: 2048, Tile: 512, Split: true}
	for _, sz := range [][2]int{{2048, 2048}, {640, 480}, {300, 2000}, {4000, 100}, {1, 1}} {
		for budget := 64; budget <= 1200; budget += 7 {
			edge, err := p.chooseEdge(sz[0], sz[1], 64, models.ImageOptions{MaxImageTokens: budget})
			if err != nil {
				t.Fatal(err)
			}
			if _, _, tokens := p.layout(sz[0], sz[1], edge, 64); tokens > budget {
				t.Fatalf("%v budget %d: edge %d gives %d tokens", sz, budget, edge, tokens)
			}
		}
	}
}

// TestExpandSkipEveryCombination: for every subset of skipped tiles of a
// 2×3 grid, the expansion holds the kept tiles' markers in order, 64
// <image> tokens per kept tile and the global image, one newline per row.
func TestExpandSkipEveryCombination(t *testing.T) {
	const rows, cols, seq = 2, 3, 4
	for mask := 0; mask < 1<<(rows*cols); mask++ {
		skip := make([]bool, rows*cols+1)
		kept := 0
		var want strings.Builder
		for i := 0; i < rows*cols; i++ {
			skip[i] = mask&(1<<i) != 0
			if !skip[i] {
				kept++
				want.WriteString("<row_" + string(rune('1'+i/cols)) + "_col_" + string(rune('1'+i%cols)) + ">")
			}
		}
		s := expandSkip(seq, rows, cols, skip)
		if n := strings.Count(s, imageToken); n != (kept+1)*seq {
			t.Fatalf("mask %b: %d image tokens, want %d", mask, n, (kept+1)*seq)
		}
		if n := strings.Count(s, "\n"); n != rows+1 {
			t.Fatalf("mask %b: %d newlines, want %d", mask, n, rows+1)
		}
		var got strings.Builder
		for _, part := range strings.Split(s, fakeToken) {
			if strings.HasPrefix(part, "<row_") {
				got.WriteString(part[:strings.Index(part, ">")+1])
			}
		}
		if got.String() != want.String() {
			t.Fatalf("mask %b: markers %s, want %s", mask, got.String(), want.String())
		}
		if !strings.HasSuffix(s, "\n"+fakeToken+globalToken+strings.Repeat(imageToken, seq)+fakeToken) {
			t.Fatalf("mask %b: the global image is not last", mask)
		}
	}
	if expandSkip(seq, rows, cols, nil) != expand(seq, rows, cols) {
		t.Fatal("no skips differ from expand")
	}
}
