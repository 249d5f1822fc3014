package llavaonevision

import (
	"strings"
	"testing"
)

// A budget that every pinpoint fits chooses what no budget chooses, also
// for an image on which some pinpoint that would never be chosen has no
// layout: a 9957×43 (w×h) strip at the real model's sizes unpads to 0
// rows on the tall pinpoints (6×1 crops: round(43·27/9957) = 0 rows of
// 162), while its best pinpoint, 384×2304 (1×6 crops), keeps 1 row of
// 162. --max-image-tokens used to try every pinpoint and refuse the image
// when any of them failed.
func TestLayoutBudgetSkipsFailingPinpoints(t *testing.T) {
	l := &pyLayout{size: 384, side: 27, pins: pinpoints(384), maxPatches: 9}
	for _, c := range []struct{ h, w int }{{43, 9957}, {9957, 43}, {420, 420}} {
		free, err := l.layout(c.h, c.w, 0)
		if err != nil {
			t.Fatalf("%d×%d without a budget: %v", c.w, c.h, err)
		}
		for _, max := range []int{free.Tokens(), free.Tokens() + 1, 1 << 20} {
			got, err := l.layout(c.h, c.w, max)
			if err != nil {
				t.Errorf("%d×%d, max %d: %v", c.w, c.h, max, err)
				continue
			}
			if got != free {
				t.Errorf("%d×%d, max %d: %+v, without a budget %+v", c.w, c.h, max, got, free)
			}
		}
	}
}

// Under a budget no pinpoint with a layout fits, the refusal names the
// least count, also where other pinpoints have no layout at all.
func TestLayoutBudgetTooSmall(t *testing.T) {
	l := &pyLayout{size: 384, side: 27, pins: pinpoints(384), maxPatches: 9}
	free, err := l.layout(43, 9957, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = l.layout(43, 9957, 27*27)
	if err == nil || !strings.Contains(err.Error(), "more than --max-image-tokens 729") {
		t.Errorf("max 729 (no layout under %d tokens): %v", free.Tokens(), err)
	}
}

// NewAnyres takes the height first, but its errors name the image as
// every other message does, width × height (they said 43×9957 of a
// 9957-wide strip), and the token maps as rows × columns.
func TestAnyresErrorsNameWidthFirst(t *testing.T) {
	for _, c := range []struct {
		size, side int
		pins       []Resolution
		max        int
		want       string
	}{
		{384, 27, []Resolution{{768, 384}}, 9, "a 9957×43 (w×h) image unpads to 0×27 tokens (rows×columns)"},
		{70, 5, []Resolution{{70, 700}}, 1, "a 9957×43 (w×h) image's 1×50 unpadded tokens (rows×columns) pool to 0×35"},
	} {
		_, err := NewAnyres(43, 9957, c.size, c.side, c.pins, c.max)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("pins %v: %v, want %q", c.pins, err, c.want)
		}
	}
}
