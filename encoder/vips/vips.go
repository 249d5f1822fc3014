// Package vips reproduces, byte for byte, the 8-bit resampling that
// transformers.js 4.3.1 gets from sharp 0.35.5 on libvips 8.18.7 (the
// versions its npm packages install): RawImage.resize's first resize of an
// image processor.
//
// transformers.js calls sharp in two ways (src/utils/image.js):
//
//   - resample nearest (0), bilinear (2), bicubic (3), and box (4) and
//     hamming (5) as bilinear: sharp's affine([w/W, 0, 0, h/H],
//     {interpolator}), i.e. vips_affine with the nearest, bilinear or
//     bicubic interpolator, the image embedded in black, output pixel x
//     sampled at input x·W/w (corner-aligned, no antialiasing). See Affine
//     and Transformers.
//   - resample lanczos (1): sharp's resize({width, height, fit: 'fill',
//     kernel: 'lanczos3'}), i.e. vips_resize with gap 2: an integer box
//     shrink (vips_shrinkv / vips_shrinkh) for large factors, then
//     vips_reducev / vips_reduceh with the kernel, then, for enlargement,
//     vips_affine with the bicubic interpolator and copied edges. See
//     Resize and SharpResize.
//
// The arithmetic is libvips's uchar path: the interpolators' and reducers'
// fixed-point coefficients (12 fractional bits, VIPS_INTERPOLATE_SHIFT),
// the coefficient tables indexed by position in 1/64 pixel
// (VIPS_TRANSFORM_SCALE), the box shrink's multiply-and-shift average, and
// the floating-point position stepping as libvips does it. Because libvips
// restarts that stepping at the top (and left) of each region it computes,
// the package computes in the same regions: full-width strips of 16 rows,
// or 128×128 tiles when a vertical box shrink is involved, and each
// operation asks its input for the areas libvips asks for.
//
// Images have 1 (grey) or 3 (RGB) interleaved bands. sharp premultiplies an
// alpha band before resampling; that path is not reproduced, so images with
// alpha are refused (transformers.js converts images to RGB before it
// resizes them).
//
// Known limits of the reproduction: libvips computes the lanczos
// coefficients with the C library's sin, which differs from Go's math.Sin
// in the last bit for about a quarter of arguments; the coefficients are
// truncated to 12-bit fixed point, so a difference shows only when a
// coefficient lies within about 1e-16 of a multiple of 1/4096. The
// floating-point expressions are evaluated without fused multiply-add, as
// the x86-64 build of libvips does.
package vips

import (
	"errors"
	"fmt"
	"math"
)

// Image is an 8-bit image with interleaved bands: band b of pixel (x, y) is
// Pix[(y*Width+x)*Bands+b].
type Image struct {
	Pix           []uint8
	Width, Height int
	Bands         int
}

// MaxPixels bounds the pixels of an input or output image (sharp's default
// limitInputPixels, 0x3FFF²).
const MaxPixels = 0x3FFF * 0x3FFF

// ErrSize is wrapped by the errors for sizes the package refuses.
var ErrSize = errors.New("vips: bad image size")

// Interpolator is an affine interpolator, as sharp names them.
type Interpolator int

// The interpolators transformers.js uses.
const (
	Nearest  Interpolator = iota // vips_interpolate_nearest
	Bilinear                     // vips_interpolate_bilinear
	Bicubic                      // vips_interpolate_bicubic (Catmull-Rom)
)

func (i Interpolator) String() string {
	switch i {
	case Nearest:
		return "nearest"
	case Bilinear:
		return "bilinear"
	case Bicubic:
		return "bicubic"
	}
	return fmt.Sprintf("Interpolator(%d)", int(i))
}

// Kernel is a reduction kernel of vips_resize (VipsKernel), as sharp names
// them. The nearest kernel (vips_subsample / vips_zoom) is not reproduced.
type Kernel int

// The kernels.
const (
	Linear Kernel = iota + 1
	Cubic         // Catmull-Rom
	Mitchell
	Lanczos2
	Lanczos3 // sharp's default, transformers.js's choice for resample 1
	MKS2013  // Magic Kernel Sharp 2013
	MKS2021  // Magic Kernel Sharp 2021
)

var kernelNames = map[Kernel]string{Linear: "linear", Cubic: "cubic", Mitchell: "mitchell",
	Lanczos2: "lanczos2", Lanczos3: "lanczos3", MKS2013: "mks2013", MKS2021: "mks2021"}

func (k Kernel) String() string {
	if n, ok := kernelNames[k]; ok {
		return n
	}
	return fmt.Sprintf("Kernel(%d)", int(k))
}

// Transformers resizes img to w×h as transformers.js 4.3.1's
// RawImage.resize(w, h, {resample}) does in Node (resample is the PIL
// filter id of preprocessor_config.json): lanczos (1) through SharpResize
// with Lanczos3, nearest (0) and bilinear (2) and bicubic (3) through
// SharpAffine, box (4) and hamming (5) as bilinear (transformers.js warns
// and falls back). An image already w×h is returned unchanged, as
// transformers.js returns it.
func Transformers(img Image, w, h, resample int) (Image, error) {
	if err := img.check(); err != nil {
		return Image{}, err
	}
	if err := checkSize("output", w, h); err != nil {
		return Image{}, err
	}
	if img.Width == w && img.Height == h {
		return img, nil
	}
	switch resample {
	case 0:
		return SharpAffine(img, w, h, Nearest)
	case 1:
		return SharpResize(img, w, h, Lanczos3)
	case 2, 4, 5:
		return SharpAffine(img, w, h, Bilinear)
	case 3:
		return SharpAffine(img, w, h, Bicubic)
	}
	return Image{}, fmt.Errorf("vips: resample %d: transformers.js supports 0–5", resample)
}

// SharpAffine is sharp's affine([w/W, 0, 0, h/H], {interpolator}) on a W×H
// image: Affine with the scale factors transformers.js computes. The output
// is w×h (libvips rounds the transformed width; for these factors it is w).
func SharpAffine(img Image, w, h int, interp Interpolator) (Image, error) {
	if err := img.check(); err != nil {
		return Image{}, err
	}
	if err := checkSize("output", w, h); err != nil {
		return Image{}, err
	}
	return Affine(img, float64(w)/float64(img.Width), float64(h)/float64(img.Height), interp)
}

// Affine is vips_affine with the matrix [a, 0, 0, d] and sharp's other
// arguments (no input or output displacement, black background, extend
// background): output pixel (x, y) interpolates the input at (x/a, y/d),
// reading black outside the image. The output is round(a·W)×round(d·H).
func Affine(img Image, a, d float64, interp Interpolator) (Image, error) {
	if err := img.check(); err != nil {
		return Image{}, err
	}
	if !(a > 0) || !(d > 0) || math.IsInf(a, 0) || math.IsInf(d, 0) {
		return Image{}, fmt.Errorf("%w: affine scale %g×%g must be positive and finite", ErrSize, a, d)
	}
	if interp < Nearest || interp > Bicubic {
		return Image{}, fmt.Errorf("vips: unknown interpolator %d", int(interp))
	}
	src := newSource(img)
	op, err := newAffine(src, img.Bands, a, d, interp, affineArgs{extend: extendBackground})
	if err != nil {
		return Image{}, err
	}
	return run(op, img.Bands)
}

// SharpResize is sharp's resize({width: w, height: h, fit: 'fill', kernel})
// on a W×H image: Resize by 1/(W/w) and 1/(H/h), as sharp computes the
// factors, or the image unchanged when both are 1.
func SharpResize(img Image, w, h int, k Kernel) (Image, error) {
	if err := img.check(); err != nil {
		return Image{}, err
	}
	if err := checkSize("output", w, h); err != nil {
		return Image{}, err
	}
	// sharp's ResolveShrink with IGNORE_ASPECT, capped so that no axis
	// shrinks below one pixel.
	hshrink := min(float64(img.Width)/float64(w), float64(img.Width))
	vshrink := min(float64(img.Height)/float64(h), float64(img.Height))
	if hshrink == 1 && vshrink == 1 {
		return img, nil
	}
	return Resize(img, 1.0/hshrink, 1.0/vshrink, k)
}

// Resize is vips_resize(hscale, vscale=vscale, kernel=k) with its default
// gap of 2: reduction with the kernel on each axis scaled below 1 (after an
// integer box shrink for factors of 4 and more), then enlargement of the
// axes scaled above 1 by vips_affine with the bilinear (Linear) or bicubic
// (other kernels) interpolator, sampling centres and copying edges.
func Resize(img Image, hscale, vscale float64, k Kernel) (Image, error) {
	if err := img.check(); err != nil {
		return Image{}, err
	}
	if !(hscale > 0) || !(vscale > 0) || math.IsInf(hscale, 0) || math.IsInf(vscale, 0) {
		return Image{}, fmt.Errorf("%w: resize scale %g×%g must be positive and finite", ErrSize, hscale, vscale)
	}
	if _, ok := kernelNames[k]; !ok {
		return Image{}, fmt.Errorf("vips: unsupported kernel %v", k)
	}
	op, err := newResize(newSource(img), img.Bands, hscale, vscale, k)
	if err != nil {
		return Image{}, err
	}
	return run(op, img.Bands)
}

// check validates an input image.
func (img Image) check() error {
	if img.Bands != 1 && img.Bands != 3 {
		return fmt.Errorf("vips: %d bands: only 1 (grey) or 3 (RGB) are supported", img.Bands)
	}
	if err := checkSize("input", img.Width, img.Height); err != nil {
		return err
	}
	if len(img.Pix) != img.Width*img.Height*img.Bands {
		return fmt.Errorf("%w: input %d×%d×%d needs %d bytes, has %d", ErrSize,
			img.Width, img.Height, img.Bands, img.Width*img.Height*img.Bands, len(img.Pix))
	}
	return nil
}

// checkSize refuses empty and over-large sizes.
func checkSize(what string, w, h int) error {
	if w <= 0 || h <= 0 {
		return fmt.Errorf("%w: %s %d×%d must be positive", ErrSize, what, w, h)
	}
	if w > MaxPixels || h > MaxPixels || w*h > MaxPixels {
		return fmt.Errorf("%w: %s %d×%d exceeds %d pixels", ErrSize, what, w, h, MaxPixels)
	}
	return nil
}
