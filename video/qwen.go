package video

import "math"

// QwenIndices is Qwen2VLVideoProcessor.sample_frames (transformers,
// src/transformers/models/qwen2_vl/video_processing_qwen2_vl.py) for a
// video of total frames at videoFPS sampled at fps: the most frames is
// min(maxFrames, total) rounded down to a multiple of factor (the
// temporal patch size); the count total/videoFPS·fps, raised to
// minFrames, capped by that and by total, rounded down to a multiple of
// factor; the indices torch.arange(0, total, total/count).int() (count =
// ceil(total/step) values i·step, truncated after a float32 rounding, as
// torch computes them). Where Python divides by zero (the count is 0:
// fewer than factor frames, or maxFrames below factor) min(total,
// maxFrames) frames are taken by the same rule (all frames of a short
// clip; never more than maxFrames); the processor then pads the odd
// count. An index float32 rounds up to total (over 2^24 frames) is
// clamped to the last frame.
func QwenIndices(total int, videoFPS, fps float64, minFrames, maxFrames, factor int) []int {
	if total < 1 {
		return nil
	}
	factor = max(factor, 1)
	maxF := float64(min(maxFrames, total) / factor * factor)
	n := float64(total)
	if videoFPS > 0 && fps > 0 {
		n = float64(total) / videoFPS * fps
	}
	n = math.Min(math.Min(math.Max(n, float64(minFrames)), maxF), float64(total))
	n = math.Floor(n/float64(factor)) * float64(factor)
	if n <= 0 {
		n = float64(min(total, max(maxFrames, 1)))
	}
	step := float64(total) / n
	count := int(math.Ceil(float64(total) / step))
	out := make([]int, 0, count)
	for i := range count {
		out = append(out, min(int(float32(float64(i)*step)), total-1))
	}
	return out
}

// RuleSampler is the sampler of a model folder's video processor rule
// (models.VideoSampling.Rule): "qwen2vl" SampleQwen2VL, "smolvlm"
// SampleSmolVLM, anything else SampleTimes.
func RuleSampler(rule string) Sampler {
	switch rule {
	case "qwen2vl":
		return SampleQwen2VL
	case "smolvlm":
		return SampleSmolVLM
	}
	return SampleTimes
}
