package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/pflag"

	"github.com/vlmrun/vlmrun/pipeline"
	"github.com/vlmrun/vlmrun/video"
)

// maxStreamFrameBytes bounds one PNG frame read from the stream.
const maxStreamFrameBytes = 64 << 20

// streamRecord is one --json line of vlmrun caption --stream-video: a frame
// taken, or an answer.
type streamRecord struct {
	Kind  string                `json:"kind"` // "frame" or "answer"
	Index int                   `json:"index"`
	Frame *pipeline.StreamFrame `json:"frame,omitempty"`
	// an answer: the frames it covers and the cache then
	Frames  int   `json:"frames,omitempty"`
	KVBytes int64 `json:"kv_cache_bytes,omitempty"`
	*pipeline.Result
}

// streamArgs reports whether caption's arguments ask for --stream-video.
func streamArgs(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if a == "--stream-video" || a == "--stream-video=true" {
			return true
		}
	}
	return false
}

// cmdStreamVideo is vlmrun caption --stream-video: PNG frames arrive on
// stdin (concatenated, as ffmpeg's image2pipe writes them), frame i at
// i/--fps seconds; each is encoded and prefilled as it arrives
// (pipeline.VideoStream: the KV cache of earlier frames kept, DTD against
// the previous frame before the prefill), and the answer to --prompt is
// printed every --answer-every frames and at the end of the stream.
func cmdStreamVideo(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlagSet("caption", stderr, func(fs *pflag.FlagSet) {
		fmt.Fprintln(stderr, "usage: ffmpeg -i SRC -vf fps=1 -f image2pipe -c:v png - | vlmrun caption --stream-video [flags] [-]")
		fmt.Fprintln(stderr, "Frames (concatenated PNG files) are read from stdin as they arrive; the KV cache of earlier frames is reused,")
		fmt.Fprintln(stderr, "only each new frame is prefilled, and --prune dtd drops its tokens that did not change since the previous frame.")
		fmt.Fprintln(stderr, "exit status: 0 done, 1 the stream, a frame or the model failed (a stalled stream after --stream-timeout), 2 a usage error")
	})
	var mf modelFlags
	var gf genFlags
	var pf pruneFlags
	mf.register(fs)
	gf.register(fs)
	pf.register(fs)
	fs.Bool("stream-video", true, "read a video's frames from stdin as they arrive (this mode)")
	var fps float64
	var maxFrames, every int
	var timeout time.Duration
	floatFlag(fs, &fps, "fps", 1, 0.001, 240, "", "frames per second of the stream: frame i is at i/fps seconds")
	intFlag(fs, &maxFrames, "max-frames", 64, 1, 4096, "", "most frames taken; the stream is answered and ends there (bounds the KV cache)")
	intFlag(fs, &every, "answer-every", 0, 0, 4096, "0 = only at the end", "also answer after every N frames")
	durationFlag(fs, &timeout, "stream-timeout", 30*time.Second, 10*time.Millisecond, time.Hour, "",
		"a stream with no complete frame for this long has stalled: the frames so far are answered and the command fails")
	asJSON := fs.Bool("json", false, "print one JSON object per line: each frame taken and each answer")
	quiet := fs.BoolP("quiet", "q", false, "do not print per-frame lines on stderr")
	if code, done := parseCommand(fs, args); done {
		return code
	}
	fail := func(err error) int { return exitCode(stderr, "caption", err) }
	if a := fs.Args(); len(a) > 1 || (len(a) == 1 && a[0] != "-") {
		return fail(usagef("--stream-video reads frames from stdin; give no file (or -), not %q", a))
	}
	req, err := gf.request()
	if err == nil {
		err = asUsage(pf.apply(&req))
	}
	if err != nil {
		return fail(err)
	}
	p, err := mf.open()
	if err != nil {
		return fail(err)
	}
	defer p.Close()
	if err := p.CheckStream(req); err != nil {
		return fail(asUsage(err))
	}
	s, err := p.OpenVideoStream(req, maxFrames)
	if err != nil {
		return fail(err)
	}
	enc := json.NewEncoder(stdout)
	answer := func() error {
		n := len(s.Frames())
		var stream func(string) error
		if !*asJSON {
			fmt.Fprintf(stdout, "[%d frames, %.2f s] ", n, s.Frames()[n-1].TimeS)
			stream = func(t string) error { _, err := io.WriteString(stdout, t); return err }
		}
		res, err := s.Answer(ctx, "", stream)
		if err != nil {
			return err
		}
		if *asJSON {
			return enc.Encode(streamRecord{Kind: "answer", Index: n - 1, Frames: n, KVBytes: s.KVBytes(), Result: res})
		}
		_, err = fmt.Fprintln(stdout)
		return err
	}

	// frames are read in their own goroutine so that a stalled stdin is
	// noticed; at most one frame waits beyond the one being processed
	type item struct {
		data []byte
		err  error
	}
	frames := make(chan item, 1)
	done := make(chan struct{})
	defer close(done)
	go func() {
		r := bufio.NewReader(stdin)
		for {
			data, err := video.ReadPNG(r, maxStreamFrameBytes)
			select {
			case frames <- item{data, err}:
			case <-done:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var streamErr error
loop:
	for i := 0; ; i++ {
		if len(s.Frames()) == maxFrames {
			if !*quiet {
				fmt.Fprintf(stderr, "vlmrun caption: --max-frames %d reached; the rest of the stream is not read\n", maxFrames)
			}
			break
		}
		timer.Reset(timeout)
		var it item
		select {
		case it = <-frames:
		case <-timer.C:
			streamErr = fmt.Errorf("stream: no complete frame for %v (--stream-timeout) after %d frames", timeout, i)
			break loop
		case <-ctx.Done():
			streamErr = ctx.Err()
			break loop
		}
		if errors.Is(it.err, io.EOF) {
			break
		}
		if it.err != nil {
			streamErr = fmt.Errorf("stream: frame %d: %w", i, it.err)
			break
		}
		t := float64(i) / fps
		st, err := s.AddFrame(ctx, pipeline.Frame{Name: fmt.Sprintf("frame-%d.png", i), R: bytes.NewReader(it.data)}, t)
		if err != nil {
			streamErr = fmt.Errorf("stream: frame %d: %w", i, err)
			break
		}
		if *asJSON {
			if err := enc.Encode(streamRecord{Kind: "frame", Index: i, Frame: &st}); err != nil {
				return fail(err)
			}
		}
		if !*quiet {
			fmt.Fprintf(stderr, "  frame %d at %.2f s: %d→%d visual tokens, encode %.1f ms, prune %.2f ms, prefill %.1f ms, %d cached rows\n",
				i, t, st.Visual, st.Kept, st.EncodeMs, st.PruneMs, st.PrefillMs, st.Rows)
		}
		if every > 0 && (i+1)%every == 0 {
			if err := answer(); err != nil {
				return fail(err)
			}
		}
	}
	if n := len(s.Frames()); n > 0 && (every == 0 || n%every != 0) {
		if err := answer(); err != nil {
			return fail(err)
		}
	}
	if streamErr != nil {
		return fail(streamErr)
	}
	if len(s.Frames()) == 0 {
		return fail(fmt.Errorf("stream: no frame arrived"))
	}
	if !*quiet {
		fr := s.Frames()
		kept := 0
		for _, f := range fr {
			kept += f.Kept
		}
		fmt.Fprintf(stderr, "  %d frames, %d→%d visual tokens, KV cache %d KiB\n", len(fr), len(fr)*fr[0].Visual, kept, s.KVBytes()>>10)
	}
	return 0
}
