package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/vlmrun/vlmrun/models"
	"github.com/vlmrun/vlmrun/pipeline"
	"github.com/vlmrun/vlmrun/video"
)

// videoFrame describes one sampled frame in --json and --extract output.
type videoFrame struct {
	Index   int     `json:"index"`
	TimeS   float64 `json:"time_s"`
	Width   int     `json:"width"`
	Height  int     `json:"height"`
	Source  string  `json:"source"`
	planned int
}

// videoRecord is the --json output of `vlmrun video`.
type videoRecord struct {
	Path           string       `json:"path"`
	Frames         []videoFrame `json:"frames"`
	FrameExtractMs float64      `json:"frame_extract_ms"`
	// TokensPerFrame is absent when images share the prompt (--image):
	// pruning then sees one token set, so no count belongs to the frames.
	TokensPerFrame *tokensPerFrame `json:"visual_tokens_per_frame,omitempty"`
	*pipeline.Result
}

// tokensPerFrame is the video's visual tokens divided by its frames,
// before and after the pre-decoder stage.
type tokensPerFrame struct {
	Before float64 `json:"before"`
	After  float64 `json:"after"`
}

// videoFlags are the frame-sampling flags of vlmrun video and vlmrun bench
// --video.
type videoFlags struct {
	fps                float64
	maxFrames, maxSide int
	timeout            time.Duration
	sampler            video.Sampler
	minFrames          int // the folder's (Qwen2-VL's min_frames, frame factor)
	frameFactor        int
}

func (v *videoFlags) register(fs *pflag.FlagSet) {
	floatFlag(fs, &v.fps, "fps", 1, 0.001, 240, "frames = round(duration × fps), at most --max-frames, spread over the whole video",
		"frames sampled per second of video")
	intFlag(fs, &v.maxFrames, "max-frames", 16, 1, 1024, "", "most frames taken from a video")
	intFlag(fs, &v.maxSide, "max-side", 1024, 16, 8192, "", "frames are scaled down to at most this many pixels on the longer side while decoding")
	durationFlag(fs, &v.timeout, "frame-timeout", time.Minute, time.Second, time.Hour, "", "limit for each ffmpeg/ffprobe command")
}

// folderDefaults takes --fps and --max-frames from the model folder's own
// video sampling (SmolVLM2's video_sampling, Qwen2-VL's video processor)
// where the flags were not given, and its frame choice
// (video.SampleSmolVLM, video.SampleQwen2VL).
func (v *videoFlags) folderDefaults(fs *pflag.FlagSet, s *models.VideoSampling) {
	if s == nil {
		return
	}
	v.sampler = video.RuleSampler(s.Rule)
	v.minFrames, v.frameFactor = s.MinFrames, s.FrameFactor
	if s.FPS > 0 && !fs.Changed("fps") {
		v.fps = s.FPS
	}
	if s.MaxFrames > 0 && !fs.Changed("max-frames") {
		v.maxFrames = min(s.MaxFrames, 1024)
	}
}

func (v videoFlags) options() video.Options {
	return video.Options{FPS: v.fps, MaxFrames: v.maxFrames, MaxSide: v.maxSide, Timeout: v.timeout, Sampler: v.sampler,
		MinFrames: v.minFrames, FrameFactor: v.frameFactor}
}

// videoFrames returns a function extracting the frames of the video at
// path (as vlmrun video samples them) with their times, for
// pipeline.CaptionVideo.
func videoFrames(path string, o video.Options) func(context.Context) (pipeline.Video, error) {
	return func(ctx context.Context) (pipeline.Video, error) {
		fr, err := loadFrames(ctx, []string{path}, o)
		if err != nil {
			return pipeline.Video{}, err
		}
		return fr.video, nil
	}
}

func cmdVideo(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlagSet("video", stderr, func(fs *pflag.FlagSet) {
		fmt.Fprintln(stderr, "usage: vlmrun video [flags] VIDEO          (GIF in pure Go; MP4, WebM, MOV, MKV, APNG, ... through ffmpeg)")
		fmt.Fprintln(stderr, "       vlmrun video [flags] IMAGE IMAGE...  (the images are the frames, in order)")
		fmt.Fprintln(stderr, "One prompt over the sampled frames (families that take several images, e.g. scenes-vqa and SmolVLM2; Qwen2-VL and Qwen2.5-VL take them as one video input; LLaVA-OneVision pools each frame's tokens 2×2 and ends the video with image_newline, read from the folder's safetensors). IMAGE IMAGE... on LLaVA-1.5, Qwen2-VL and Qwen2.5-VL is one user message holding the images, then the prompt, as their chat template and Python's processor lay several images out.")
		fmt.Fprintln(stderr, "Temporal pruning methods (dtd, dycoke, fastvid, prunevid, holitom) see the frames; a --keep budget covers all frames.")
		fmt.Fprintln(stderr, "--image FILE puts images in the same prompt as the video, before it (after it with --video-first): Qwen2-VL and Qwen2.5-VL, as Python's Qwen2VLProcessor takes both.")
		fmt.Fprintln(stderr, "exit status: 0 done, 1 the video or the model failed, 2 a usage error (bad flag or value)")
	})
	var mf modelFlags
	var gf genFlags
	var pf pruneFlags
	mf.register(fs)
	gf.register(fs)
	pf.register(fs)
	var vf videoFlags
	vf.register(fs)
	extract := fs.String("extract", "", "write the sampled frames as DIR/frame-NNNN.png, print them, and stop (no model)")
	asJSON := fs.Bool("json", false, "print one JSON object (frames with timestamps, frame extraction time, visual tokens per frame, the caption result)")
	quiet := fs.BoolP("quiet", "q", false, "do not print timings on stderr")
	withImages := fs.StringArray("image", nil, "an image in the same prompt as the video (repeatable; families whose chat format takes videos: Qwen2-VL, Qwen2.5-VL)")
	videoFirst := fs.Bool("video-first", false, "with --image: the video before the images in the prompt")
	if code, done := parseCommand(fs, args); done {
		return code
	}
	fail := func(err error) int { return exitCode(stderr, "video", err) }
	files := fs.Args()
	if len(files) == 0 {
		return fail(usagef("no video given (usage: vlmrun video [flags] VIDEO | IMAGE IMAGE...; see --help)"))
	}
	if len(*withImages) > 0 && (len(files) != 1 || *extract != "") {
		return fail(usagef("--image goes with one video file (not frames given as images, nor --extract)"))
	}
	if *videoFirst && len(*withImages) == 0 {
		return fail(usagef("--video-first needs --image"))
	}
	req, err := gf.request()
	if err == nil {
		err = asUsage(pf.apply(&req))
	}
	if err != nil {
		return fail(err)
	}
	if *extract == "" {
		if dir, err := mf.resolveModel(); err == nil { // (a bad --model fails below, once the frames are read)
			s, err := models.ReadVideoSampling(dir)
			if err != nil {
				return fail(err)
			}
			vf.folderDefaults(fs, s)
		}
	}
	start := time.Now()
	fr, err := loadFrames(ctx, files, vf.options())
	if err != nil {
		return fail(err)
	}
	extractMs := float64(time.Since(start).Microseconds()) / 1000
	meta := fr.meta
	if len(meta) > 0 && meta[0].planned > len(meta) {
		fmt.Fprintf(stderr, "vlmrun video: warning: %d of %d frames decoded (the file ends early: truncated?)\n", len(meta), meta[0].planned)
	}
	if *extract != "" {
		if err := os.MkdirAll(*extract, 0o755); err != nil {
			return fail(err)
		}
		for i, data := range fr.data {
			p := filepath.Join(*extract, fmt.Sprintf("frame-%04d.png", i))
			if err := os.WriteFile(p, data, 0o644); err != nil {
				return fail(err)
			}
			fmt.Fprintf(stdout, "%s\t%.3f s\t%dx%d\n", p, meta[i].TimeS, meta[i].Width, meta[i].Height)
		}
		if !*quiet {
			fmt.Fprintf(stderr, "  %d frames extracted in %.1f ms\n", len(meta), extractMs)
		}
		return 0
	}
	p, err := mf.open()
	if err != nil {
		return fail(err)
	}
	defer p.Close()
	if req, err = p.FitRequest(req); err != nil {
		return fail(asUsage(err))
	}
	var stream func(string) error
	if !*asJSON {
		stream = func(s string) error { _, err := io.WriteString(stdout, s); return err }
	}
	var res *pipeline.Result
	switch {
	case len(*withImages) > 0:
		if !fr.isVideo {
			return fail(usagef("--image goes with one video file"))
		}
		var imgs []pipeline.Frame
		for _, f := range *withImages {
			data, err := readCapped(f, 256<<20)
			if err != nil {
				return fail(err)
			}
			imgs = append(imgs, pipeline.Frame{Name: f, R: bytes.NewReader(data)})
		}
		res, err = p.ChatVideo(ctx, videoConversation(len(imgs), *videoFirst, req.Prompt), imgs, []pipeline.Video{fr.video}, req, stream)
	case fr.isVideo:
		res, err = p.CaptionVideo(ctx, fr.video, req, stream) // the family's video prompt, where it has one
	default:
		res, err = p.CaptionFrames(ctx, fr.video.Frames, req, stream)
	}
	if err != nil {
		return fail(err)
	}
	rec := videoRecord{Path: strings.Join(files, " "), Frames: meta, FrameExtractMs: extractMs, Result: res}
	if len(*withImages) == 0 {
		rec.TokensPerFrame = &tokensPerFrame{
			Before: float64(res.Visual.Before) / float64(len(meta)),
			After:  float64(res.Visual.AfterPre) / float64(len(meta)),
		}
	}
	if *asJSON {
		if err := json.NewEncoder(stdout).Encode(rec); err != nil {
			return fail(err)
		}
		return 0
	}
	fmt.Fprintln(stdout)
	if !*quiet {
		if tpf := rec.TokensPerFrame; tpf != nil {
			fmt.Fprintf(stderr, "  %d frames (%s) | frame extraction %.1f ms | visual tokens per frame %.1f -> %.1f\n",
				len(meta), frameTimes(meta), extractMs, tpf.Before, tpf.After)
		} else {
			fmt.Fprintf(stderr, "  %d frames (%s) | frame extraction %.1f ms | visual tokens of the images and the video %d -> %d\n",
				len(meta), frameTimes(meta), extractMs, res.Visual.Before, res.Visual.AfterPre)
		}
		printTimings(stderr, res)
	}
	return 0
}

// videoConversation is one user message holding n images and a video
// (the video first when videoFirst) then text (none when empty: the
// family's default question).
func videoConversation(n int, videoFirst bool, text string) models.Conversation {
	var parts []models.Part
	for range n {
		parts = append(parts, models.ImagePart())
	}
	if videoFirst {
		parts = append([]models.Part{models.VideoPart()}, parts...)
	} else {
		parts = append(parts, models.VideoPart())
	}
	if text != "" {
		parts = append(parts, models.TextPart(text))
	}
	return models.Conversation{{Role: models.RoleUser, Parts: parts}}
}

// loadedFrames are the frames of one video file (isVideo) or of images
// given as frames: as the pipeline reads them, their encoded bytes (for
// --extract) and their description.
type loadedFrames struct {
	video   pipeline.Video
	data    [][]byte
	meta    []videoFrame
	isVideo bool
}

// loadFrames returns the frames of one video file, or the given images as
// frames (read whole; the pipeline checks their format and size).
func loadFrames(ctx context.Context, files []string, o video.Options) (loadedFrames, error) {
	var out loadedFrames
	if len(files) == 1 {
		fr, err := video.Extract(ctx, files[0], o)
		if err != nil {
			return out, err
		}
		out.video, out.isVideo = pipeline.VideoOf(filepath.Base(files[0]), fr), true
		for i, f := range fr {
			out.data = append(out.data, f.PNG)
			out.meta = append(out.meta, videoFrame{Index: i, TimeS: f.Time, Width: f.W, Height: f.H, Source: files[0], planned: f.Planned})
		}
		return out, nil
	}
	if len(files) > o.MaxFrames {
		return out, usagef("%d images given as frames; --max-frames is %d", len(files), o.MaxFrames)
	}
	for i, f := range files {
		data, err := readCapped(f, 256<<20)
		if err != nil {
			return out, err
		}
		out.video.Frames = append(out.video.Frames, pipeline.Frame{Name: f, R: bytes.NewReader(data)})
		out.video.Times = append(out.video.Times, float64(i)/o.FPS)
		out.data = append(out.data, data)
		out.meta = append(out.meta, videoFrame{Index: i, TimeS: float64(i) / o.FPS, Source: f})
	}
	return out, nil
}

func readCapped(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %d MiB", path, limit>>20)
	}
	return data, nil
}

func frameTimes(m []videoFrame) string {
	parts := make([]string, 0, len(m))
	for i, f := range m {
		if i == 6 && len(m) > 8 {
			parts = append(parts, "...")
			i = len(m) - 1
			f = m[i]
			parts = append(parts, fmt.Sprintf("%.2fs", f.TimeS))
			break
		}
		parts = append(parts, fmt.Sprintf("%.2fs", f.TimeS))
	}
	return strings.Join(parts, " ")
}
