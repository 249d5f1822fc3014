package llavaonevision

import (
	"errors"
	"fmt"
	"image"
	"os"

	"github.com/vlmrun/vlmrun/encoder"
	"github.com/vlmrun/vlmrun/models"
	"github.com/vlmrun/vlmrun/pruning"
)

// Image layouts a folder can ask for in vlmrun_config.json's
// "image_layout".
const (
	// LayoutTJS is transformers.js 4.3.1's: one squashed image, side²
	// tokens (the default).
	LayoutTJS = "transformers.js"
	// LayoutPython is Python transformers' anyres layout (Anyres; BaseOnly
	// for each of several images in a prompt); it needs the checkpoint's
	// image_newline.
	LayoutPython = "python"
)

// ConfigFile is vlmrun's own, optional settings file in a model folder.
const ConfigFile = "vlmrun_config.json"

// readLayout returns the folder's image layout (LayoutTJS without
// vlmrun_config.json or its image_layout key).
func readLayout(dir string) (string, error) {
	var c struct {
		ImageLayout string `json:"image_layout"`
	}
	if err := models.ReadJSON(dir, ConfigFile, &c); err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	switch c.ImageLayout {
	case "", LayoutTJS:
		return LayoutTJS, nil
	case LayoutPython:
		return LayoutPython, nil
	}
	return "", fmt.Errorf("%s: image_layout %q (want %q or %q)", ConfigFile, c.ImageLayout, LayoutTJS, LayoutPython)
}

// pyLayout is what the Python layout needs besides the image processor.
type pyLayout struct {
	size, side int // crop size in pixels, tokens per crop side
	pins       []Resolution
	maxPatches int
	newline    []float32
	ip         models.ImageProcessor
	lut        [3][256]float32 // rescale + normalize per channel value
	background [3]uint8        // pad_to_square's fill: int(mean·255)
}

// newPyLayout reads what the Python layout needs: the pinpoints (config.json,
// else preprocessor_config.json), vision_aspect_ratio, the image_newline
// vector of hidden values.
func newPyLayout(dir string, c config, ip models.ImageProcessor, size, side, hidden int) (*pyLayout, error) {
	var pc struct {
		Pins [][2]int `json:"image_grid_pinpoints"`
	}
	if len(c.Pins) == 0 {
		if err := models.ReadJSON(dir, "preprocessor_config.json", &pc); err != nil {
			return nil, err
		}
		c.Pins = pc.Pins
	}
	if len(c.Pins) == 0 {
		return nil, fmt.Errorf("no image_grid_pinpoints in config.json or preprocessor_config.json")
	}
	l := &pyLayout{size: size, side: side, ip: ip}
	for _, p := range c.Pins {
		if p[0] < size || p[1] < size {
			return nil, fmt.Errorf("image_grid_pinpoints %v is smaller than the %d px crop", p, size)
		}
		l.pins = append(l.pins, Resolution{H: p[0], W: p[1]})
	}
	aspect := c.AspectRatio
	if aspect == "" {
		aspect = "anyres_max_9" // LlavaOnevisionConfig's default
	}
	var err error
	if l.maxPatches, err = MaxPatches(aspect); err != nil {
		return nil, err
	}
	if l.newline, err = ReadNewline(dir, hidden); err != nil {
		return nil, fmt.Errorf("%s asks for the Python layout, which needs the checkpoint's image_newline (e.g. model.safetensors of llava-hf/llava-onevision-qwen2-0.5b-ov-hf): %w", ConfigFile, err)
	}
	// Python's rescale (a float64 product stored as float32) and normalize
	// ((x − mean) / std in float32).
	for ch := range l.lut {
		l.background[ch] = uint8(max(0, min(255, int(ip.Mean[ch]*255))))
		for v := range l.lut[ch] {
			x := float32(float64(v) * ip.RescaleFactor)
			if !ip.DoRescale {
				x = float32(v)
			}
			if ip.DoNormalize {
				x = (x - float32(ip.Mean[ch])) / float32(ip.Std[ch])
			}
			l.lut[ch][v] = x
		}
	}
	return l, nil
}

// layout returns an h×w image's layout under a budget of maxTokens visual
// tokens (0: none): the pinpoints whose layout exceeds it are left out of
// the choice, and an image no pinpoint fits is refused. A pinpoint that
// gives this image no layout (its unpadded map would be empty) stays in
// the choice, so that a budget every pinpoint fits chooses as no budget
// does (and fails only where that would).
func (l *pyLayout) layout(h, w, maxTokens int) (Anyres, error) {
	pins := l.pins
	if maxTokens > 0 {
		pins = nil
		least, fits := 0, 0
		for _, p := range l.pins {
			a, err := NewAnyres(h, w, l.size, l.side, []Resolution{p}, l.maxPatches)
			if err != nil {
				pins = append(pins, p)
				continue
			}
			if a.Tokens() <= maxTokens {
				pins = append(pins, p)
				fits++
			}
			if least == 0 || a.Tokens() < least {
				least = a.Tokens()
			}
		}
		if fits == 0 && least > 0 {
			return Anyres{}, fmt.Errorf("llavaonevision: a %d×%d image takes at least %d image tokens in the Python layout (base + map + newline rows), more than --max-image-tokens %d",
				w, h, least, maxTokens)
		}
	}
	return NewAnyres(h, w, l.size, l.side, pins, l.maxPatches)
}

// preprocessSeveral is LlavaOnevisionImageProcessor for an image that
// shares its prompt with others (need_patching false): the image padded to
// a square (centred, the rest filled with tuple(int(x·255) for x in
// image_mean)), squashed to size×size, rescaled and normalized; one vision
// input, laid out as BaseOnly. maxTokens (0: none) bounds its side² + 1
// image tokens.
func (l *pyLayout) preprocessSeveral(img *image.NRGBA, maxTokens int, resizer string) (models.Pixels, error) {
	if img == nil || img.Rect.Empty() {
		return models.Pixels{}, fmt.Errorf("llavaonevision: empty image")
	}
	a := BaseOnly(l.side)
	if maxTokens > 0 && a.Tokens() > maxTokens {
		return models.Pixels{}, fmt.Errorf("llavaonevision: an image among several takes %d image tokens in the Python layout (its base and one newline), more than --max-image-tokens %d",
			a.Tokens(), maxTokens)
	}
	// the square is materialized (Pillow resizes it as one image): a long
	// strip would make a huge one
	if n := int64(max(img.Rect.Dx(), img.Rect.Dy())); n*n > encoder.DefaultLimits.MaxPixels {
		return models.Pixels{}, fmt.Errorf("llavaonevision: a %d×%d image among several pads to a square of %d×%d, over %d pixels",
			img.Rect.Dx(), img.Rect.Dy(), n, n, encoder.DefaultLimits.MaxPixels)
	}
	sq := padSquare(img, l.background)
	base, err := l.resize(sq, l.size, l.size, resizer)
	if err != nil {
		return models.Pixels{}, err
	}
	px := models.Pixels{Images: 1, Layout: a}
	px.Data = l.appendCHW(make([]float32, 0, 3*l.size*l.size), base, 0, 0, l.size)
	return px, nil
}

// padSquare is pad_to_square: img centred on a max(w, h) square filled
// with bg ((max − side) // 2 rows or columns before it); a square image is
// returned as is.
func padSquare(img *image.NRGBA, bg [3]uint8) *image.NRGBA {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	if w == h {
		return img
	}
	n := max(w, h)
	sq := image.NewNRGBA(image.Rect(0, 0, n, n))
	for i := 0; i < len(sq.Pix); i += 4 {
		sq.Pix[i], sq.Pix[i+1], sq.Pix[i+2], sq.Pix[i+3] = bg[0], bg[1], bg[2], 255
	}
	x0, y0 := (n-w)/2, (n-h)/2
	for y := 0; y < h; y++ {
		i := img.PixOffset(img.Rect.Min.X, img.Rect.Min.Y+y)
		copy(sq.Pix[(y0+y)*sq.Stride+4*x0:], img.Pix[i:i+4*w])
	}
	return sq
}

// preprocess is LlavaOnevisionImageProcessor for one image alone in its
// prompt: the base image (squashed to size×size), then the crops of the
// image resized to fit the chosen pinpoint (aspect ratio kept, sides
// rounded up), centred on a black canvas of the pinpoint's size and cut
// into size×size crops row by row; each rescaled and normalized. Resizes
// use resizer (Python's processor resizes with Pillow).
func (l *pyLayout) preprocess(img *image.NRGBA, maxTokens int, resizer string) (models.Pixels, error) {
	if img == nil || img.Rect.Empty() {
		return models.Pixels{}, fmt.Errorf("llavaonevision: empty image")
	}
	w, h := img.Rect.Dx(), img.Rect.Dy()
	a, err := l.layout(h, w, maxTokens)
	if err != nil {
		return models.Pixels{}, err
	}
	S := l.size
	px := models.Pixels{Images: 1 + a.Crops(), Layout: a}
	px.Data = make([]float32, 0, px.Images*3*S*S)
	base, err := l.resize(img, S, S, resizer)
	if err != nil {
		return px, err
	}
	px.Data = l.appendCHW(px.Data, base, 0, 0, S)
	nh, nw := PatchOutputSize(h, w, a.Best)
	resized, err := l.resize(img, nw, nh, resizer)
	if err != nil {
		return px, err
	}
	canvas := image.NewNRGBA(image.Rect(0, 0, a.Best.W, a.Best.H)) // np.pad with 0: black
	x0, y0 := (a.Best.W-nw)/2, (a.Best.H-nh)/2
	for y := 0; y < nh; y++ {
		copy(canvas.Pix[(y0+y)*canvas.Stride+4*x0:], resized.Pix[y*resized.Stride:y*resized.Stride+4*nw])
	}
	for r := 0; r < a.Rows; r++ {
		for c := 0; c < a.Cols; c++ {
			px.Data = l.appendCHW(px.Data, canvas, c*S, r*S, S)
		}
	}
	return px, nil
}

// resize resizes img to w×h (none when it has that size already, as
// Pillow returns a copy then).
func (l *pyLayout) resize(img *image.NRGBA, w, h int, resizer string) (*image.NRGBA, error) {
	if img.Rect.Dx() == w && img.Rect.Dy() == h && img.Rect.Min == (image.Point{}) {
		return img, nil
	}
	return encoder.ResizeNRGBA(img, w, h, l.ip.Resample, resizer)
}

// appendCHW appends the S×S square of m at (x0, y0), rescaled and
// normalized, channel by channel.
func (l *pyLayout) appendCHW(dst []float32, m *image.NRGBA, x0, y0, S int) []float32 {
	for ch := 0; ch < 3; ch++ {
		for y := 0; y < S; y++ {
			row := m.Pix[(y0+y)*m.Stride+4*x0:]
			for x := 0; x < S; x++ {
				dst = append(dst, l.lut[ch][row[4*x+ch]])
			}
		}
	}
	return dst
}

// pack is Spec.PackVisual for the Python layout: the vision graph's rows
// for the base and the crops become the image's anyres visual tokens
// (base, then the unpadded, pooled map row by row); the newline rows
// between map rows are the prompt's fixed rows (prompter.place), outside
// pruning, as the papers' OneVision code keeps image_newline.
//
// The pruning extras (received attention, keys, pre-projector rows; one per
// raw row) go with their rows: when the packing only selects rows (the
// base, the unpadded map, or BaseOnly), each packed token keeps its own
// row's extras — as FasterVLM's and VisionZip's LLaVA-NeXT code score each
// crop token by its own row before the unpadded layout is assembled
// (pruning-methods.md §1.6). A pooled map (anyres_max_N) mixes four rows
// per token, for which the methods' code has no rule on images (HoliTom
// pools attention like the features on video frames only, which vlmrun's
// video path does not follow either), so the extras methods are refused
// there.
func (l *pyLayout) pack(px models.Pixels, v *pruning.Visual) (*pruning.Visual, error) {
	a, ok := px.Layout.(Anyres)
	if !ok {
		return nil, fmt.Errorf("llavaonevision: pixels without their anyres layout")
	}
	d := v.Features.Cols
	data, err := a.Pack(v.Features.Data, d, nil)
	if err != nil {
		return nil, err
	}
	out := &pruning.Visual{Features: pruning.Matrix{Rows: a.Visual(), Cols: d, Data: data}}
	if len(v.CLSAttn) == 0 && v.Keys.Rows == 0 && v.PreProj.Rows == 0 {
		return out, nil
	}
	if a.Pooled() {
		return nil, fmt.Errorf("llavaonevision: the Python image layout shrank this image's %d×%d map to %d×%d (anyres_max_%d), mixing rows; methods that read encoder attention, keys or pre-projector features run only on images whose tokens are rows of the crops (--max-image-tokens can pick a grid that is not shrunk): %w",
			a.UnpadH, a.UnpadW, a.OutH, a.OutW, l.maxPatches, pruning.ErrMissingInput)
	}
	if len(v.CLSAttn) > 0 {
		if out.CLSAttn, err = a.Pack(v.CLSAttn, 1, nil); err != nil {
			return nil, fmt.Errorf("llavaonevision: encoder attention: %w", err)
		}
	}
	for _, m := range []struct {
		src *pruning.Matrix
		dst *pruning.Matrix
	}{{&v.Keys, &out.Keys}, {&v.PreProj, &out.PreProj}} {
		if m.src.Rows == 0 {
			continue
		}
		rows, err := a.Pack(m.src.Data, m.src.Cols, nil)
		if err != nil {
			return nil, fmt.Errorf("llavaonevision: encoder extras: %w", err)
		}
		*m.dst = pruning.Matrix{Rows: a.Visual(), Cols: m.src.Cols, Data: rows}
	}
	return out, nil
}
