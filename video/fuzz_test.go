package video

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"math"
	"testing"
)

// Frame indices stay bounded and in range for any frame count, rate and
// setting: at most max(maxFrames, 1) of them (and at most total), each in
// [0, total), increasing. (QwenIndices may give maxFrames+1, as
// torch.arange does when total/(total/n) rounds above n: 1,048,550 frames,
// 27 wanted, 28 in torch 1.13; the Qwen checks allow that one more.)
func checkIndices(t *testing.T, name string, idx []int, total, maxFrames int) {
	t.Helper()
	if total < 1 {
		if len(idx) != 0 {
			t.Fatalf("%s: %d indices of %d frames", name, len(idx), total)
		}
		return
	}
	if len(idx) == 0 || len(idx) > min(total, max(maxFrames, 1)) {
		t.Fatalf("%s: %d indices of %d frames, max %d", name, len(idx), total, maxFrames)
	}
	for i, k := range idx {
		if k < 0 || k >= total || (i > 0 && k <= idx[i-1]) {
			t.Fatalf("%s: index %d = %d of %d frames: %v", name, i, k, total, idx[:min(len(idx), 20)])
		}
	}
}

func TestIndicesBounded(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	for _, c := range []struct {
		total              int
		rate, fps          float64
		minF, maxF, factor int
	}{
		{0, 30, 1, 4, 16, 2}, {1, 30, 1, 4, 16, 2}, {1, 0, 0, 4, 16, 2}, {3, 30, 2, 4, 16, 2},
		{1 << 20, 30, 2, 4, 1, 2}, // --max-frames 1 on a two-frame temporal patch
		{1 << 20, 30, 2, 4, 16, 64}, {1 << 20, nan, nan, 4, 16, 2}, {1 << 20, 30, inf, 4, 16, 2},
		{1 << 20, 1e-300, 1e300, 0, 1024, 2}, {5, 30, 2, 0, 0, 2}, {1 << 20, 30, 2, 1 << 30, 16, 2},
	} {
		checkIndices(t, "qwen", QwenIndices(c.total, c.rate, c.fps, c.minF, c.maxF, c.factor), c.total, max(c.maxF, c.factor-1)+1)
		d := float64(c.total) / c.rate
		checkIndices(t, "smolvlm", SmolVLMIndices(c.total, c.rate, d, c.fps, max(c.maxF, 1)), c.total, c.maxF)
	}
}

func FuzzQwenIndices(f *testing.F) {
	f.Add(100, 30.0, 2.0, 4, 16, 2)
	f.Add(1<<20, 30.0, 2.0, 4, 1, 2)
	f.Fuzz(func(t *testing.T, total int, rate, fps float64, minF, maxF, factor int) {
		total = total % (1 << 22)
		maxF = max(maxF%4096, 1)
		factor = max(factor%64, 1)
		idx := QwenIndices(total, rate, fps, minF, maxF, factor)
		checkIndices(t, "qwen", idx, total, max(maxF, factor-1)+1)
	})
}

func FuzzSmolVLMIndices(f *testing.F) {
	f.Add(100, 30.0, 3.3, 1.0, 64)
	f.Fuzz(func(t *testing.T, total int, rate, duration, fps float64, maxF int) {
		total = total % (1 << 22)
		maxF = max(maxF%4096, 1)
		checkIndices(t, "smolvlm", SmolVLMIndices(total, rate, duration, fps, maxF), total, maxF)
	})
}

func FuzzTimes(f *testing.F) {
	f.Add(10.0, 1.0, 16)
	f.Fuzz(func(t *testing.T, duration, fps float64, maxF int) {
		maxF = max(maxF%4096, 1)
		if ts := Times(duration, fps, maxF); len(ts) < 1 || len(ts) > maxF {
			t.Fatalf("%d times for max %d", len(ts), maxF)
		}
	})
}

// ReadPNG on any bytes returns a file, io.EOF or one error, never more
// than maxBytes, and consumes what it returns.
func FuzzReadPNG(f *testing.F) {
	f.Add([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x00IEND\xaeB`\x82"))
	f.Add([]byte("\x89PNG\r\n\x1a\n\x7f\xff\xff\xffIDAT"))
	f.Add([]byte("\x89PNG\r\n\x1a\n\xff\xff\xff\xffIDAT"))
	f.Add([]byte("GIF89a"))
	f.Fuzz(func(t *testing.T, b []byte) {
		const limit = 1 << 12
		r := bufio.NewReader(bytes.NewReader(b))
		read := 0
		for range len(b) + 1 {
			got, err := ReadPNG(r, limit)
			if err == io.EOF {
				if read != len(b) {
					t.Fatalf("io.EOF after %d of %d bytes", read, len(b))
				}
				return
			}
			if err != nil {
				if err.Error() == "" || errors.Is(err, io.EOF) && !errors.Is(err, ErrTruncatedFrame) {
					t.Fatalf("unclear error %q", err)
				}
				return
			}
			if len(got) > limit || !bytes.Equal(got, b[read:read+len(got)]) {
				t.Fatalf("file of %d bytes at %d is not the input's", len(got), read)
			}
			read += len(got)
		}
		t.Fatal("no end")
	})
}
