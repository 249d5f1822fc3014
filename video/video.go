// Package video samples frames from a video file for a multi-image prompt.
//
// GIF is decoded in pure Go (image/gif, with frame disposal and delays);
// every other format (MP4, WebM, MOV, MKV, AVI, APNG, ...) goes through the
// ffmpeg and ffprobe executables (Debian/Ubuntu: apt-get install ffmpeg).
// Work is bounded for any input: every external command runs under a
// timeout, at most Options.MaxFrames frames are produced, each frame is
// scaled down in ffmpeg to at most Options.MaxSide pixels on its longer side
// before it reaches Go, and a GIF's decoded size is checked from its block
// structure before any pixel is decoded.
package video

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Frame is one sampled frame.
type Frame struct {
	Index int     // 0-based, in time order
	Time  float64 // seconds from the start of the video
	PNG   []byte  // the frame, PNG-encoded (what pipeline.Frame reads)
	W, H  int     // its size after any down-scaling
	// Planned is the number of frames sampling asked for; fewer come back
	// when the file ends early (a truncated file): then the caller may warn.
	Planned int
	// Duration is the whole video's length in seconds (the same in every
	// frame; 0 when the container does not say).
	Duration float64
}

// Options says which frames to take and bounds the work.
type Options struct {
	// FPS is the sampling rate; the frame count is round(duration·FPS),
	// at least 1, at most MaxFrames; when capped the frames spread evenly
	// over the whole video (as qwen-vl-utils and transformers sample).
	FPS float64
	// MaxFrames caps the number of frames (default 16).
	MaxFrames int
	// MaxSide scales frames down so that the longer side is at most this
	// many pixels (default 1024; the models resize further).
	MaxSide int
	// Timeout bounds each external command (default 60 s); the caller's
	// context bounds the whole extraction.
	Timeout time.Duration
	// MaxGIFPixels bounds a GIF's total decoded pixels over all frames
	// (default 1 << 30).
	MaxGIFPixels int64
	// FFmpeg and FFprobe are the executables (default: found in PATH).
	FFmpeg, FFprobe string
	// Sampler chooses the frames (default SampleTimes).
	Sampler Sampler
	// MinFrames and FrameFactor are SampleQwen2VL's min_frames (default
	// 4) and frame factor, the temporal patch size (default 2).
	MinFrames, FrameFactor int
}

func (o Options) withDefaults() Options {
	if o.FPS <= 0 {
		o.FPS = 1
	}
	if o.MaxFrames <= 0 {
		o.MaxFrames = 16
	}
	if o.MinFrames <= 0 {
		o.MinFrames = 4
	}
	if o.FrameFactor <= 0 {
		o.FrameFactor = 2
	}
	if o.MaxSide <= 0 {
		o.MaxSide = 1024
	}
	if o.Timeout <= 0 {
		o.Timeout = 60 * time.Second
	}
	if o.MaxGIFPixels <= 0 {
		o.MaxGIFPixels = 1 << 30
	}
	return o
}

// singlePassMax: videos up to this many seconds are decoded in one ffmpeg
// run; longer ones with one seek per frame (bounded by the frame count, not
// the length).
const singlePassMax = 120

// ErrNoFFmpeg is returned (wrapped) when a non-GIF video needs ffmpeg and it
// is not installed.
var ErrNoFFmpeg = errors.New("ffmpeg not found")

// ErrBadVideo is returned (wrapped) for inputs that are not a readable video
// (not a video, zero length, truncated, no decodable frame, too large).
var ErrBadVideo = errors.New("unreadable video")

// Extract samples frames from the file at path.
func Extract(ctx context.Context, path string, o Options) ([]Frame, error) {
	o = o.withDefaults()
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("video: %w", err)
	}
	head := make([]byte, 16)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	st, err := f.Stat()
	if err == nil && st.IsDir() {
		f.Close()
		return nil, fmt.Errorf("video: %s is a folder: %w", path, ErrBadVideo)
	}
	if n == 0 {
		f.Close()
		return nil, fmt.Errorf("video: %s is empty (zero bytes): %w", path, ErrBadVideo)
	}
	if bytes.HasPrefix(head, []byte("GIF87a")) || bytes.HasPrefix(head, []byte("GIF89a")) {
		defer f.Close()
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return nil, fmt.Errorf("video: %w", err)
		}
		return extractGIF(ctx, path, bufio.NewReader(f), o)
	}
	f.Close()
	return extractFFmpeg(ctx, path, o)
}

// Times returns the sampling times for a video of the given duration: n =
// clamp(round(duration·fps), 1, maxFrames) frames at i·duration/n.
func Times(duration, fps float64, maxFrames int) []float64 {
	n := int(math.Round(duration * fps))
	n = max(1, min(n, maxFrames))
	out := make([]float64, n)
	for i := range out {
		out[i] = float64(i) * duration / float64(n)
	}
	return out
}

// FFmpegHelp is the install hint of the missing-ffmpeg error.
const FFmpegHelp = "install it (Debian/Ubuntu: sudo apt-get install -y ffmpeg; macOS: brew install ffmpeg), " +
	"or give the frames as images, or as a GIF (decoded without ffmpeg)"

func tools(o Options) (ffmpeg, ffprobe string, err error) {
	ffmpeg, ffprobe = o.FFmpeg, o.FFprobe
	if ffmpeg == "" {
		if ffmpeg, err = exec.LookPath("ffmpeg"); err != nil {
			return "", "", fmt.Errorf("video: decoding this file needs ffmpeg, which is not in PATH: %s: %w", FFmpegHelp, ErrNoFFmpeg)
		}
	}
	if ffprobe == "" {
		if ffprobe, err = exec.LookPath("ffprobe"); err != nil {
			return "", "", fmt.Errorf("video: decoding this file needs ffprobe (part of ffmpeg), which is not in PATH: %s: %w", FFmpegHelp, ErrNoFFmpeg)
		}
	}
	return ffmpeg, ffprobe, nil
}

// run runs a command under the timeout, keeping at most limit bytes of
// stdout; it returns stdout and the last line of stderr.
func run(ctx context.Context, o Options, limit int64, name string, args ...string) ([]byte, string, error) {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.WaitDelay = 2 * time.Second
	var out limitedBuffer
	out.limit = limit
	var errb limitedBuffer
	errb.limit = 64 << 10
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	last := lastLine(errb.String())
	if ctx.Err() == context.DeadlineExceeded {
		return nil, last, fmt.Errorf("%s took longer than %s (stopped)", name, o.Timeout)
	}
	if err == nil && out.over {
		err = fmt.Errorf("%s wrote more than %d bytes", name, limit)
	}
	return out.Bytes(), last, err
}

type limitedBuffer struct {
	bytes.Buffer
	limit int64
	over  bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.limit - int64(b.Len()); int64(len(p)) > room {
		b.over = true
		if room > 0 {
			b.Buffer.Write(p[:room])
		}
		return len(p), nil // keep draining so the child never blocks
	}
	return b.Buffer.Write(p)
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

type probe struct {
	Streams []struct {
		Width, Height int
		Duration      string `json:"duration"`
		NbFrames      string `json:"nb_frames"`
		RFrameRate    string `json:"r_frame_rate"`
		AvgFrameRate  string `json:"avg_frame_rate"`
	} `json:"streams"`
	Format struct {
		Duration   string `json:"duration"`
		FormatName string `json:"format_name"`
	} `json:"format"`
}

// Info is what ffprobe says about a file's first video stream.
type Info struct {
	Width, Height int
	Duration      float64 // seconds; 0 when unknown
	Format        string
	Frames        int     // the stream's frame count; 0 when unknown
	FPS           float64 // its average frame rate; 0 when unknown
}

// Probe reads the first video stream's size and the duration.
func Probe(ctx context.Context, path string, o Options) (Info, error) {
	o = o.withDefaults()
	_, ffprobe, err := tools(o)
	if err != nil {
		return Info{}, err
	}
	out, last, err := run(ctx, o, 1<<20, ffprobe, "-v", "error", "-select_streams", "v:0",
		"-show_entries", "stream=width,height,duration,nb_frames,r_frame_rate,avg_frame_rate:format=duration,format_name",
		"-of", "json", fileURL(path))
	if err != nil {
		return Info{}, fmt.Errorf("video: %s is not a video ffmpeg can read (%v; %s): %w", path, err, last, ErrBadVideo)
	}
	var p probe
	if err := json.Unmarshal(out, &p); err != nil {
		return Info{}, fmt.Errorf("video: ffprobe output for %s: %v: %w", path, err, ErrBadVideo)
	}
	if len(p.Streams) == 0 || p.Streams[0].Width <= 0 || p.Streams[0].Height <= 0 {
		return Info{}, fmt.Errorf("video: %s has no video stream (format %q): %w", path, p.Format.FormatName, ErrBadVideo)
	}
	s := p.Streams[0]
	info := Info{Width: s.Width, Height: s.Height, Format: p.Format.FormatName, FPS: parseRate(s.AvgFrameRate)}
	if n, err := strconv.Atoi(s.NbFrames); err == nil && n > 0 {
		info.Frames = n
	}
	for _, d := range []string{s.Duration, p.Format.Duration} {
		if v, err := strconv.ParseFloat(d, 64); err == nil && v > 0 && !math.IsInf(v, 0) {
			info.Duration = v
			break
		}
	}
	return info, nil
}

func extractFFmpeg(ctx context.Context, path string, o Options) ([]Frame, error) {
	ffmpeg, _, err := tools(o)
	if err != nil {
		return nil, err
	}
	info, err := Probe(ctx, path, o)
	if err != nil {
		return nil, err
	}
	scale := fmt.Sprintf("scale=w='min(%d,iw)':h='min(%d,ih)':force_original_aspect_ratio=decrease", o.MaxSide, o.MaxSide)
	frameLimit := int64(o.MaxSide)*int64(o.MaxSide)*4 + 1<<20 // a PNG of the scaled frame, with room
	common := []string{"-nostdin", "-hide_banner", "-loglevel", "error"}
	var frames []Frame
	if o.Sampler.byIndex() {
		if frames, err = extractIndices(ctx, path, o, info, ffmpeg, scale, frameLimit); err != nil {
			return nil, err
		}
	} else if times := Times(info.Duration, o.FPS, o.MaxFrames); info.Duration > 0 && info.Duration <= singlePassMax {
		// a short video: one ffmpeg run decodes it once at n/duration fps
		// (cheaper than n process starts and seeks)
		rate := fmt.Sprintf("%d/%s", len(times), strconv.FormatFloat(info.Duration, 'f', -1, 64))
		args := append(common, "-i", fileURL(path), "-an", "-sn", "-vf", fmt.Sprintf("fps=fps=%s:start_time=0,%s", rate, scale),
			"-frames:v", strconv.Itoa(len(times)), "-f", "image2pipe", "-c:v", "png", "pipe:1")
		out, last, err := run(ctx, o, frameLimit*int64(len(times)), ffmpeg, args...)
		if err != nil {
			return nil, fmt.Errorf("video: decode %s: %v (%s): %w", path, err, last, ErrBadVideo)
		}
		for i, p := range splitPNGs(out) {
			if i < len(times) {
				frames = append(frames, Frame{Index: i, Time: times[i], PNG: p})
			}
		}
	} else if info.Duration == 0 {
		// unknown duration (a stream, some WebM/APNG): decode from the start at
		// FPS, stop after MaxFrames
		args := append(common, "-i", fileURL(path), "-an", "-sn", "-vf", fmt.Sprintf("fps=%g,%s", o.FPS, scale),
			"-frames:v", strconv.Itoa(o.MaxFrames), "-f", "image2pipe", "-c:v", "png", "pipe:1")
		out, last, err := run(ctx, o, frameLimit*int64(o.MaxFrames), ffmpeg, args...)
		if err != nil {
			return nil, fmt.Errorf("video: decode %s: %v (%s): %w", path, err, last, ErrBadVideo)
		}
		pngs := splitPNGs(out)
		for i, p := range pngs {
			frames = append(frames, Frame{Index: i, Time: float64(i) / o.FPS, PNG: p})
		}
	} else {
		for i, t := range Times(info.Duration, o.FPS, o.MaxFrames) {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			args := append(common, "-ss", strconv.FormatFloat(t, 'f', 3, 64), "-i", fileURL(path), "-an", "-sn",
				"-vf", scale, "-frames:v", "1", "-f", "image2pipe", "-c:v", "png", "pipe:1")
			out, last, err := run(ctx, o, frameLimit, ffmpeg, args...)
			if err != nil || len(out) == 0 {
				if err == nil {
					err = errors.New("no frame decoded")
				}
				if i > 0 && len(out) == 0 && !strings.Contains(fmt.Sprint(err), "longer than") {
					break // past the decodable end (a truncated file): keep what was read
				}
				return nil, fmt.Errorf("video: %s: frame at %.3f s: %v (%s): %w", path, t, err, last, ErrBadVideo)
			}
			frames = append(frames, Frame{Index: i, Time: t, PNG: out})
		}
	}
	planned := o.MaxFrames
	if info.Duration > 0 {
		planned = len(Times(info.Duration, o.FPS, o.MaxFrames))
	}
	for i := range frames {
		if !o.Sampler.byIndex() { // (extractIndices sets both)
			frames[i].Planned, frames[i].Duration = planned, info.Duration
		}
	}
	if len(frames) == 0 {
		return nil, fmt.Errorf("video: %s: no frame could be decoded (zero-length or truncated video): %w", path, ErrBadVideo)
	}
	for i := range frames {
		cfg, err := png.DecodeConfig(bytes.NewReader(frames[i].PNG))
		if err != nil {
			return nil, fmt.Errorf("video: %s: frame %d: ffmpeg wrote no valid PNG: %v: %w", path, i, err, ErrBadVideo)
		}
		frames[i].W, frames[i].H = cfg.Width, cfg.Height
	}
	return frames, nil
}

// fileURL makes ffmpeg read path as a local file whatever its name (a
// name such as "pipe:0", "concat:a|b" or "http://..." would otherwise
// select another protocol).
func fileURL(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	return "file:" + path
}

// splitPNGs splits concatenated PNG files (image2pipe output) at IEND.
func splitPNGs(b []byte) [][]byte {
	var out [][]byte
	iend := []byte("IEND\xaeB`\x82")
	for len(b) > 0 {
		i := bytes.Index(b, iend)
		if i < 0 {
			break
		}
		out = append(out, b[:i+len(iend)])
		b = b[i+len(iend):]
	}
	return out
}

// encodePNG encodes a frame for the pipeline (fast compression).
func encodePNG(img image.Image) ([]byte, error) {
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
