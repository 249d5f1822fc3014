package llavaonevision

import (
	"image"
	"strings"
	"testing"

	"github.com/vlmrun/vlmrun/encoder"
	"github.com/vlmrun/vlmrun/models"
)

// An image among several is padded to a max(w, h) square before it is
// squashed: a long strip, small as a file and as decoded pixels, would
// make a huge square (a 100000×2 PNG: 10^10 pixels, 40 GB of RGBA, a
// crash of vlmrun or of the server). A square over encoder.DefaultLimits'
// pixels (8192² = 64 Mpx) is one error; 8192 px on the long side still
// runs.
func TestSeveralPadLimit(t *testing.T) {
	l := &pyLayout{size: 14, side: 2, ip: models.ImageProcessor{Resample: 3}}
	for _, c := range []struct {
		w, h int
		ok   bool
	}{{8192, 2, true}, {2, 8192, true}, {8193, 2, false}, {3, 8193, false}} {
		img := image.NewNRGBA(image.Rect(0, 0, c.w, c.h))
		px, err := l.preprocessSeveral(img, 0, encoder.ResizerPIL)
		switch {
		case c.ok && (err != nil || len(px.Data) != 3*14*14):
			t.Errorf("%d×%d: %d values, %v", c.w, c.h, len(px.Data), err)
		case !c.ok && (err == nil || !strings.Contains(err.Error(), "pads to a square of")):
			t.Errorf("%d×%d: %v, want the square refused", c.w, c.h, err)
		}
	}
}
