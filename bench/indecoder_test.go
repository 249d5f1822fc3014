package bench

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/vlmrun/vlmrun/decoder"
	"github.com/vlmrun/vlmrun/internal/ortx"
	"github.com/vlmrun/vlmrun/pruning"
)

// BenchmarkInDecoderPrefill prefills the realistic-size SmolVLM decoder
// (2048 px prompt: 66 text + 1,088 visual tokens, random embeddings) with
// in-decoder methods run on stage graphs derived from its unchanged merged
// file, and compares each method's prefill with the same cut points
// keeping every token, against the FLOPs model's prediction for the KV
// rows each layer actually got. It also times the merged file (logits for
// every row), deriving the stage graphs, and reopening them from the disk
// cache. Rounds interleave the cases; medians.
//
//	go test -run '^$' -bench InDecoderPrefill -benchtime 1x ./bench
func BenchmarkInDecoderPrefill(b *testing.B) {
	spec, fl := realisticModel(b)
	threads := envInt("VLMRUN_BENCH_THREADS", 2)
	rounds := envInt("VLMRUN_BENCH_ROUNDS", 5)
	t := spec.Text
	dims := decoder.Dims{Hidden: t.Hidden, Layers: t.Layers, Heads: t.Heads, KVHeads: t.KVHeads, HeadDim: t.HeadDim, Vocab: t.Vocab}
	cache := b.TempDir()
	open := func() *decoder.LM {
		lm, err := decoder.Open(decoder.Files{Embed: spec.Files.Embed, Merged: spec.Files.Decoder, CacheDir: cache}, dims,
			ortx.Options{Threads: threads})
		if err != nil {
			b.Fatal(err)
		}
		return lm
	}
	lm := open()
	defer lm.Destroy()
	const text, visual = 66, 1088
	L := text + visual
	in := decoder.Input{Embeds: make([]float32, L*t.Hidden), Positions: make([]int64, L), NextPos: int64(L), TotalVisual: visual}
	for j := range in.Embeds {
		in.Embeds[j] = float32((j*7919)%1000-500) / 1000
	}
	for j := range in.Positions {
		in.Positions[j] = int64(j)
	}
	for j := 0; j < visual; j++ {
		in.ImageIdx = append(in.ImageIdx, 1+j)
	}
	type bcase struct {
		name, spec, base string
		form             decoder.Form
	}
	cases := []bcase{
		{name: "merged (all-row logits)", form: decoder.FormMerged},
		{name: "fastv K=2 keep-all", spec: "fastv:k=2,r=0"},
		{name: "fastv K=2 R=75%", spec: "fastv:k=2,r=0.75", base: "fastv K=2 keep-all"},
		{name: "pdrop 8/16/24 keep-all", spec: "pdrop:layers=8/16/24,ratios=1/1/1"},
		{name: "pdrop 8/16/24", spec: "pdrop:layers=8/16/24", base: "pdrop 8/16/24 keep-all"},
	}
	opts := make([]decoder.Options, len(cases))
	for i, c := range cases {
		opts[i] = decoder.Options{MaxNewTokens: 1, Form: c.form}
		if c.spec != "" {
			m, err := pruning.Parse(c.spec)
			if err != nil {
				b.Fatal(err)
			}
			opts[i].Prune = m.In
		}
	}
	rows := make([][]int, len(cases))
	for i := range cases { // warm-up, and the first use derives the stage graphs
		out, err := lm.Generate(context.Background(), in, opts[i], nil)
		if err != nil {
			b.Fatal(err)
		}
		rows[i] = out.LayerRows
		if out.SplitBuild > 0 {
			b.Logf("%s: derived %d stage graphs in %v, opened in %v", cases[i].name, len(pruneCuts(opts[i], t.Layers))+1,
				out.SplitBuild.Round(time.Millisecond), out.SessionOpen.Round(time.Millisecond))
		}
	}
	lm2 := open() // a second process would find the graphs in the cache
	out, err := lm2.Generate(context.Background(), in, opts[2], nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("fastv stage set from the disk cache: build %v, open %v", out.SplitBuild, out.SessionOpen.Round(time.Millisecond))
	lm2.Destroy()
	for b.Loop() {
		times := make([][]float64, len(cases))
		for r := 0; r < rounds; r++ {
			for i := range cases {
				out, err := lm.Generate(context.Background(), in, opts[i], nil)
				if err != nil {
					b.Fatal(err)
				}
				times[i] = append(times[i], float64(out.Prefill.Microseconds())/1000)
			}
		}
		med := func(name string) float64 {
			i := slices.IndexFunc(cases, func(c bcase) bool { return c.name == name })
			return Summarize(times[i]).Median
		}
		for i, c := range cases {
			m := Summarize(times[i]).Median
			line := fmt.Sprintf("%-26s prefill median %7.1f ms (min %7.1f), KV rows %v…", c.name, m, Summarize(times[i]).Min, rows[i][:4])
			if c.base != "" {
				j := slices.IndexFunc(cases, func(x bcase) bool { return x.name == c.base })
				pred := fl.PrefillFLOPs(rows[j], 1) / fl.PrefillFLOPs(rows[i], 1)
				got := med(c.base) / m
				line += fmt.Sprintf(" speed-up %.2f× measured / %.2f× FLOPs (%.0f%%)", got, pred, 100*got/pred)
				b.ReportMetric(100*got/pred, "pct-of-predicted/"+c.spec)
			}
			b.Log(line)
		}
	}
}

func pruneCuts(o decoder.Options, layers int) []int {
	if o.Prune == nil {
		return nil
	}
	var c []int
	for _, l := range o.Prune.Layers() {
		if l < layers-1 {
			c = append(c, l)
		}
	}
	return c
}
