package smolvlm

import (
	"strings"
	"testing"

	"github.com/vlmrun/vlmrun/models"
)

// The video prompt of a 3-frame video, written out by hand from Python's
// rule (processing_smolvlm.py process_video and DEFAULT_CHAT_TEMPLATE,
// video_processing_smolvlm.py DEFAULT_VIDEO_INTRO, FRAME_TIMESTAMP_MESSAGE
// and DEFAULT_MEDIA_OUTTRO; see video.go): "User" then ": " because the
// message starts with a video; the intro with num2words(3) = "three" and
// str(timedelta(seconds=int(75.6))) = "0:01:15"; each frame's
// int(t // 60):int(t % 60) as 00:00, 00:04 and 01:01; "\n\n"; the text.
func TestVideoPromptText(t *testing.T) {
	p := &prompter{seqLen: 2}
	img := "<fake_token_around_image><global-img><image><image><fake_token_around_image>"
	want := "<|im_start|>User: You are provided the following series of three frames from a 0:01:15 [H:MM:SS] video.\n" +
		"\nFrame from 00:00:" + img +
		"\nFrame from 00:04:" + img +
		"\nFrame from 01:01:" + img +
		"\n\n" + "What changes?<end_of_utterance>\nAssistant:"
	got, err := p.videoText("What changes?", models.Video{Times: []float64{0, 4.5, 61.9}, Duration: 75.6})
	if err != nil || got != want {
		t.Errorf("got %q (%v)\nwant %q", got, err, want)
	}
	// no text: the default question; unknown length: the last frame's time
	got, err = p.videoText(" ", models.Video{Times: []float64{0, 3725}})
	if err != nil || !strings.Contains(got, "series of two frames from a 1:02:05 [H:MM:SS] video.\n") ||
		!strings.Contains(got, "\nFrame from 62:05:"+img+"\n\n"+DefaultVideoPrompt+"<end_of_utterance>") {
		t.Errorf("default text, unknown length: %q (%v)", got, err)
	}
	for _, bad := range []struct {
		user string
		v    models.Video
	}{
		{"x", models.Video{}},
		{"what <image>", models.Video{Times: []float64{0}}},
		{"what <video>", models.Video{Times: []float64{0}}},
		{"x", models.Video{Times: []float64{-1}}},
	} {
		if _, err := p.videoText(bad.user, bad.v); err == nil {
			t.Errorf("%q %v: no error", bad.user, bad.v)
		}
	}
}

// num2words' English cardinals (lang_EN merge: "-" inside tens, " and "
// before a rest under 100, ", " otherwise) and Python's str(timedelta).
func TestCardinalAndTimedelta(t *testing.T) {
	for n, want := range map[int]string{0: "zero", 1: "one", 3: "three", 16: "sixteen", 20: "twenty", 21: "twenty-one",
		64: "sixty-four", 99: "ninety-nine", 100: "one hundred", 101: "one hundred and one", 120: "one hundred and twenty",
		308: "three hundred and eight", 1000: "one thousand", 1001: "one thousand and one", 1024: "one thousand and twenty-four",
		1100: "one thousand, one hundred", 1701: "one thousand, seven hundred and one", 120000: "one hundred and twenty thousand"} {
		if got, err := cardinal(n); err != nil || got != want {
			t.Errorf("cardinal(%d) = %q, %v; want %q", n, got, err, want)
		}
	}
	if _, err := cardinal(1_000_000); err == nil {
		t.Error("cardinal(1e6): no error")
	}
	for s, want := range map[int]string{0: "0:00:00", 10: "0:00:10", 75: "0:01:15", 3600: "1:00:00", 86399: "23:59:59",
		86400: "1 day, 0:00:00", 2*86400 + 61: "2 days, 0:01:01"} {
		if got := timedelta(s); got != want {
			t.Errorf("timedelta(%d) = %q, want %q", s, got, want)
		}
	}
}
