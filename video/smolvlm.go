package video

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Sampler chooses which frames of a video are taken.
type Sampler int

const (
	// SampleTimes (the default) takes n = clamp(round(duration·FPS), 1,
	// MaxFrames) frames at the times i·duration/n (Times).
	SampleTimes Sampler = iota
	// SampleSmolVLM takes the frame indices SmolVLM2's video processor
	// picks (SmolVLMIndices, with FPS and MaxFrames), each at index/rate
	// seconds; the video's length is then frames/rate, as the Python
	// video readers give it.
	SampleSmolVLM
	// SampleQwen2VL takes the frame indices Qwen2VLVideoProcessor's
	// sample_frames picks (QwenIndices, with FPS, MinFrames, MaxFrames
	// and FrameFactor), each at index/rate seconds, the length
	// frames/rate as for SampleSmolVLM.
	SampleQwen2VL
)

// byIndex reports whether the sampler picks frame indices (a Python
// video processor's rule) rather than times.
func (s Sampler) byIndex() bool { return s == SampleSmolVLM || s == SampleQwen2VL }

// indices are the frame indices the sampler picks from a video of total
// frames at rate frames per second lasting duration seconds.
func (o Options) indices(total int, rate, duration float64) []int {
	if o.Sampler == SampleQwen2VL {
		return QwenIndices(total, rate, o.FPS, o.MinFrames, o.MaxFrames, o.FrameFactor)
	}
	return SmolVLMIndices(total, rate, duration, o.FPS, o.MaxFrames)
}

// SmolVLMIndices is SmolVLMVideoProcessor.sample_frames (transformers,
// src/transformers/models/smolvlm/video_processing_smolvlm.py) for a video
// of total frames at videoFPS lasting duration seconds: n = min(round(fps ·
// duration), maxFrames), at least 1 (Python's round: halves to even); from
// frame 0 to the last one, or from int(videoFPS) to int(total − videoFPS)
// (one second skipped at each end) when duration − 2 > maxFrames·fps; n
// indices numpy.linspace(start, end, n) truncated to integers, repeats
// dropped.
func SmolVLMIndices(total int, videoFPS, duration, fps float64, maxFrames int) []int {
	if total < 1 {
		return nil
	}
	n := min(int(math.RoundToEven(fps*duration)), maxFrames)
	n = max(n, 1)
	start, end := 0, total-1
	const skip = 1.0
	if duration-2*skip > float64(maxFrames)*fps {
		start = int(skip * videoFPS)
		end = int(float64(total) - skip*videoFPS)
	}
	start, end = max(0, start), min(end, total-1)
	if start >= end {
		start, end = 0, total-1
	}
	out := make([]int, 0, n)
	step := float64(end-start) / float64(max(n-1, 1)) // numpy: delta/div, then i·step + start
	for i := range n {
		v := float64(i)*step + float64(start)
		if i == n-1 && n > 1 {
			v = float64(end) // numpy sets the endpoint exactly
		}
		k := int(v)
		if len(out) == 0 || out[len(out)-1] != k {
			out = append(out, k)
		}
	}
	return out
}

// parseRate reads an ffprobe rate such as "30000/1001" or "25".
func parseRate(s string) float64 {
	num, den, ok := strings.Cut(s, "/")
	a, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0
	}
	if ok {
		b, err := strconv.ParseFloat(den, 64)
		if err != nil || b == 0 {
			return 0
		}
		a /= b
	}
	if math.IsNaN(a) || math.IsInf(a, 0) || a <= 0 {
		return 0
	}
	return a
}

// extractIndices is extractFFmpeg under SampleSmolVLM or SampleQwen2VL:
// the frames at the sampler's indices, selected by index in one decoding pass for videos up to
// singlePassMax seconds, else one seek per frame (to index/rate).
func extractIndices(ctx context.Context, path string, o Options, info Info, ffmpeg, scale string, frameLimit int64) ([]Frame, error) {
	rate, total := info.FPS, info.Frames
	if total <= 0 && rate > 0 && info.Duration > 0 {
		total = int(math.Round(info.Duration * rate))
	}
	if rate <= 0 || total <= 0 {
		return nil, fmt.Errorf("video: %s: the video processor's frame sampling needs the frame count and rate, which ffprobe does not give: %w", path, ErrBadVideo)
	}
	duration := float64(total) / rate
	idx := o.indices(total, rate, duration)
	common := []string{"-nostdin", "-hide_banner", "-loglevel", "error"}
	var pngs [][]byte
	if duration <= singlePassMax {
		terms := make([]string, len(idx))
		for i, k := range idx {
			terms[i] = fmt.Sprintf("eq(n\\,%d)", k)
		}
		args := append(common, "-i", fileURL(path), "-an", "-sn", "-vf", "select='"+strings.Join(terms, "+")+"',"+scale,
			"-fps_mode", "passthrough", "-frames:v", strconv.Itoa(len(idx)), "-f", "image2pipe", "-c:v", "png", "pipe:1")
		out, last, err := run(ctx, o, frameLimit*int64(len(idx)), ffmpeg, args...)
		if err != nil {
			return nil, fmt.Errorf("video: decode %s: %v (%s): %w", path, err, last, ErrBadVideo)
		}
		pngs = splitPNGs(out)
	} else {
		for _, k := range idx {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			args := append(common, "-ss", strconv.FormatFloat(float64(k)/rate, 'f', 3, 64), "-i", fileURL(path), "-an", "-sn",
				"-vf", scale, "-frames:v", "1", "-f", "image2pipe", "-c:v", "png", "pipe:1")
			out, last, err := run(ctx, o, frameLimit, ffmpeg, args...)
			if err != nil || len(out) == 0 {
				if err == nil {
					break // past the decodable end (a truncated file): keep what was read
				}
				return nil, fmt.Errorf("video: %s: frame %d: %v (%s): %w", path, k, err, last, ErrBadVideo)
			}
			pngs = append(pngs, out)
		}
	}
	var frames []Frame
	for i, p := range pngs {
		if i < len(idx) {
			frames = append(frames, Frame{Index: i, Time: float64(idx[i]) / rate, PNG: p, Planned: len(idx), Duration: duration})
		}
	}
	return frames, nil
}
