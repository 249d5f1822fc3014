package qwen2vl

import (
	"image"
	"testing"
)

// A token budget (max_pixels lowered to budget·28², min_pixels to at most
// that) holds for a small image that smart_resize's min_pixels branch
// rounds up: at the twin's min = 4 tokens a 20×14 image first becomes
// 28×40 → 28×28 (1 token < min), then the min branch ceils it to 56×84
// (6 tokens). Budgets 1, 2 and 3 fitted (min lowered below 4 tokens) but
// budget 4 was refused ("at least 6 visual tokens") though 1 fits. Each
// budget now gets at most its count and a larger budget never fewer
// tokens; images and video frames alike (frames from budget 2).
func TestBudgetMonotoneOnSmallImage(t *testing.T) {
	p := clipVideo()
	p.DoResize = true
	const f = 28
	for _, sz := range [][2]int{{20, 14}, {14, 20}, {30, 30}, {56, 20}} {
		img := image.NewNRGBA(image.Rect(0, 0, sz[0], sz[1]))
		prevImg, prevVid := 0, 0
		for budget := 1; budget <= 16; budget++ {
			_, g, err := p.Processor.Process(img, "", budget*f*f)
			if err != nil {
				t.Fatalf("%v image, budget %d: %v", sz, budget, err)
			}
			n := g.Tokens(p.Merge)
			if n > budget || n < prevImg {
				t.Errorf("%v image, budget %d: %d tokens (grid %v; budget %d gave %d)", sz, budget, n, g, budget-1, prevImg)
			}
			prevImg = n
			if budget == 1 {
				// Python's rounding (video) gives a 20×14 frame 2 tokens
				// whatever min_pixels: round(14/28) = 0 rows, then the
				// min branch ceils to 1 row × 2 columns; videoPixels
				// refuses budget 1 there
				continue
			}
			_, w, h, err := p.Frames([]*image.NRGBA{img, img}, budget*f*f)
			if err != nil {
				t.Fatalf("%v frame, budget %d: %v", sz, budget, err)
			}
			n = (w / f) * (h / f)
			if n > budget || n < prevVid {
				t.Errorf("%v frame, budget %d: %d tokens (%d×%d; budget %d gave %d)", sz, budget, n, w, h, budget-1, prevVid)
			}
			prevVid = n
		}
	}
}
