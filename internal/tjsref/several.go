package tjsref

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vlmrun/vlmrun/encoder"
	"github.com/vlmrun/vlmrun/internal/ortx"
	"github.com/vlmrun/vlmrun/internal/testenv"
	"github.com/vlmrun/vlmrun/models"
	"github.com/vlmrun/vlmrun/pipeline"
)

// SeveralTwin is one twin folder for SeveralDiff.
type SeveralTwin struct {
	Name         string // case-name prefix
	Dir          string // the twin folder
	Compose      string // ChatCase.Compose: "llava" or "qwen2vl"
	ChatTemplate string // ChatCase.ChatTemplate
	// Pairs are the image pairs, each prompted in one user message and in
	// two user turns.
	Pairs [][2]string
}

// SeveralConversations are the two layouts of two images a pair is asked
// in: both in one user message, and one in each of two user turns.
func SeveralConversations() []NamedConversation {
	user := func(parts ...models.Part) models.Message { return models.Message{Role: models.RoleUser, Parts: parts} }
	img, txt := models.ImagePart, models.TextPart
	return []NamedConversation{
		{"one-turn", models.Conversation{user(img(), img(), txt("Compare the two pictures."))}},
		{"two-turns", models.Conversation{user(img(), txt("What is in the picture?")),
			{Role: models.RoleAssistant, Parts: []models.Part{txt("Some shapes.")}}, user(img(), txt("And in this one?"))}},
	}
}

// SeveralDiff runs two images per prompt (SeveralConversations over every
// pair) through pipeline.Pipeline.Chat and requires the input ids, the
// pixel values of both images (bit-identical: their SHA-256 against the
// concatenated pixel_values), the 3-D position ids where the family has
// them (models.Spec.Positions) and 12 greedy generated ids to equal
// transformers.js 4.3.1 composed as Python's processor does for several
// images (chat.js compose; live, or the golden file when transformers.js
// is not installed; update rewrites the golden from a live run).
func SeveralDiff(t *testing.T, golden string, update bool, twins []SeveralTwin) {
	testenv.ORT(t)
	type goCase struct {
		twin   SeveralTwin
		conv   models.Conversation
		images []string
	}
	var cases []ChatCase
	gos := map[string]goCase{}
	var names []string
	for _, tw := range twins {
		for _, pair := range tw.Pairs {
			for _, nc := range SeveralConversations() {
				name := fmt.Sprintf("%s-%s-%s-%s", tw.Name, base(pair[0]), base(pair[1]), nc.Name)
				cases = append(cases, ChatCase{Name: name, Model: tw.Dir, Messages: Messages(nc.Conv),
					Images: pair[:], ChatTemplate: tw.ChatTemplate, Compose: tw.Compose, MaxNew: 12})
				gos[name] = goCase{twin: tw, conv: nc.Conv, images: pair[:]}
				names = append(names, name)
			}
		}
	}
	var ref map[string]ChatResult
	if Available(t, update) {
		ref = RunChat(t, cases)
	} else {
		ref = LoadGolden[ChatResult](t, golden)
	}
	opened := map[string]*pipeline.Pipeline{}
	defer func() {
		for _, p := range opened {
			p.Close()
		}
	}()
	for _, name := range names {
		g := gos[name]
		t.Run(name, func(t *testing.T) {
			p, ok := opened[g.twin.Dir]
			if !ok {
				var err error
				if p, err = pipeline.Open(g.twin.Dir, pipeline.Options{ORT: ortx.Options{Threads: 1}}); err != nil {
					t.Fatal(err)
				}
				opened[g.twin.Dir] = p
			}
			r, ok := ref[name]
			if !ok {
				t.Fatalf("no reference result for %s (run with -update and transformers.js installed)", name)
			}
			res, err := p.Chat(context.Background(), g.conv, frames(t, g.images), pipeline.Request{MaxNewTokens: 12}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(res.PromptIDs, r.InputIDs) {
				t.Errorf("input_ids differ (transformers.js prompt %q):\n vlmrun %v\n tjs    %v", r.PromptText, res.PromptIDs, r.InputIDs)
			}
			if !slices.Equal(res.GeneratedIDs, r.GeneratedIDs) {
				t.Errorf("generated ids differ:\n vlmrun %v\n tjs    %v", res.GeneratedIDs, r.GeneratedIDs)
			}
			if len(res.GeneratedIDs) == 0 {
				t.Errorf("nothing generated")
			}
			sum := 0
			for _, n := range r.FeaturesPerImage {
				sum += n
			}
			if len(r.FeaturesPerImage) != 2 || res.Visual.Before != sum {
				t.Errorf("visual tokens: vlmrun %d, tjs %v per image", res.Visual.Before, r.FeaturesPerImage)
			}
			px := pixelsOf(t, p, g.images)
			if d := Digest(px.Data); d != r.PixelSHA256 {
				t.Errorf("pixel_values digest %s, tjs %s (shape %v, vlmrun %d values)", d, r.PixelSHA256, r.PixelShape, len(px.Data))
			}
			if p.Spec.Positions == nil {
				return
			}
			var grids [][3]int
			for _, gr := range px.Grids {
				grids = append(grids, gr)
			}
			if !slices.Equal(grids, r.ImageGridTHW) {
				t.Errorf("image_grid_thw: vlmrun %v, tjs %v", grids, r.ImageGridTHW)
			}
			pos, dims, next, err := p.Spec.Positions(models.Prompt{IDs: res.PromptIDs}, px)
			if err != nil || dims != 3 {
				t.Fatalf("positions: %v (%d rows)", err, dims)
			}
			if !slices.Equal(pos, r.PositionIDs) {
				t.Errorf("position ids differ:\n vlmrun %v\n tjs    %v", pos, r.PositionIDs)
			}
			if len(r.RopeDelta) != 1 || next != int64(len(res.PromptIDs))+r.RopeDelta[0] {
				t.Errorf("next position %d, tjs L + rope_delta = %d + %v", next, len(res.PromptIDs), r.RopeDelta)
			}
		})
	}
	if update && ref != nil {
		WriteGolden(t, golden, names, ref)
	}
}

// pixelsOf preprocesses each image alone as the pipeline does and
// concatenates their pixel values (and grids).
func pixelsOf(t *testing.T, p *pipeline.Pipeline, paths []string) models.Pixels {
	t.Helper()
	var all models.Pixels
	for _, path := range paths {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		img, _, err := encoder.DecodeImage(path, f, encoder.DefaultLimits)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		px, err := p.Spec.PreprocessImage(img)
		if err != nil {
			t.Fatalf("preprocess %s: %v", path, err)
		}
		all.Data = append(all.Data, px.Data...)
		all.Images += px.Images
		all.Grids = append(all.Grids, px.Grids...)
		all.PatchDim = px.PatchDim
	}
	return all
}

func base(path string) string {
	return strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
}

// SeveralPipeline checks two images in one prompt through the pipeline on
// the twin in dir: CaptionFrames (vlmrun video IMAGE IMAGE) gives the
// prompt and ids of Chat on one user message holding both images then the
// text; a pre-decoder budget covers both images' tokens together (half of
// them kept in all, where one budget per image would keep twice as many);
// keep 1.0 reproduces the unpruned ids (divprune, random).
func SeveralPipeline(t *testing.T, dir string, images [2]string) {
	testenv.ORT(t)
	p, err := pipeline.Open(dir, pipeline.Options{ORT: ortx.Options{Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	const text = "Compare the two pictures."
	chat := func(req pipeline.Request) (*pipeline.Result, error) {
		req.MaxNewTokens = 12
		return p.Chat(context.Background(), models.UserTurn("", text, 2), frames(t, images[:]), req, nil)
	}
	base, err := chat(pipeline.Request{})
	if err != nil {
		t.Fatal(err)
	}
	nBefore := base.Visual.Before
	if nBefore < 4 || base.Visual.AfterPre != nBefore || len(base.GeneratedIDs) == 0 {
		t.Fatalf("unpruned: %d → %d visual tokens, ids %v", nBefore, base.Visual.AfterPre, base.GeneratedIDs)
	}
	fr, err := p.CaptionFrames(context.Background(), frames(t, images[:]), pipeline.Request{Prompt: text, MaxNewTokens: 12}, nil)
	if err != nil {
		t.Fatalf("CaptionFrames: %v", err)
	}
	if !slices.Equal(fr.PromptIDs, base.PromptIDs) || !slices.Equal(fr.GeneratedIDs, base.GeneratedIDs) {
		t.Errorf("CaptionFrames and Chat differ:\n frames %v → %v\n chat   %v → %v", fr.PromptIDs, fr.GeneratedIDs, base.PromptIDs, base.GeneratedIDs)
	}
	half := nBefore / 2
	for _, c := range []struct {
		method, keep string
		after        int
	}{{"divprune", "1.0", nBefore}, {"random", "1.0", nBefore}, {"divprune", fmt.Sprint(half), half}, {"random", "0.5", half}} {
		req := pipeline.Request{}
		if err := (pipeline.PruneSpec{Method: c.method, Keep: c.keep}).Apply(&req); err != nil {
			t.Fatal(err)
		}
		res, err := chat(req)
		if err != nil {
			t.Fatalf("%s keep %s: %v", c.method, c.keep, err)
		}
		if res.Visual.Before != nBefore || res.Visual.AfterPre != c.after || len(res.GeneratedIDs) == 0 {
			t.Errorf("%s keep %s: %d → %d visual tokens (want %d → %d), ids %v", c.method, c.keep,
				res.Visual.Before, res.Visual.AfterPre, nBefore, c.after, res.GeneratedIDs)
		}
		if c.after == nBefore && (!slices.Equal(res.GeneratedIDs, base.GeneratedIDs) || !slices.Equal(res.PromptIDs, base.PromptIDs)) {
			t.Errorf("%s keep %s: ids %v, unpruned %v", c.method, c.keep, res.GeneratedIDs, base.GeneratedIDs)
		}
	}
}
