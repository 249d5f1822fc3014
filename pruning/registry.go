package pruning

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// Stage says where a method acts.
type Stage int

const (
	// PreDecoderStage: on the encoder output, before the decoder (PreDecoder).
	PreDecoderStage Stage = iota
	// InDecoderStage: at decoder layer boundaries during the prefill (InDecoder).
	InDecoderStage
)

func (s Stage) String() string {
	if s == InDecoderStage {
		return "in-decoder"
	}
	return "pre-decoder"
}

// Param describes one method parameter.
type Param struct {
	Name    string
	Default string // "" = unset (the doc says what that means)
	Doc     string
}

// Info describes a method for `vlmrun prune list`.
type Info struct {
	Name      string
	Stage     Stage
	Needs     Need           // with default parameters (Parse: with the given ones)
	Positions PositionPolicy // position ids after the drop
	// DefaultKeep is the budget of the reference setting, for when no --keep
	// is given ("" for in-decoder methods whose parameters set the counts).
	DefaultKeep string
	Count       string // how the kept count follows from the budget
	Params      []Param
	Doc         string // one line
}

// Method is a parsed method specification: one of Pre and In is set, or
// both for a combination "PRE+IN" (ParseStages).
type Method struct {
	Info   Info
	Pre    PreDecoder
	In     InDecoder
	vals   [][2]string // every parameter, in Info.Params order
	stages []Method    // a combination's two stages
}

// String returns the canonical specification, every parameter included;
// Parse reads it back to the same method.
func (m Method) String() string {
	if len(m.stages) == 2 {
		return m.stages[0].String() + "+" + m.stages[1].String()
	}
	if len(m.vals) == 0 {
		return m.Info.Name
	}
	parts := make([]string, len(m.vals))
	for i, kv := range m.vals {
		parts[i] = kv[0] + "=" + kv[1]
	}
	return m.Info.Name + ":" + strings.Join(parts, ",")
}

type entry struct {
	info  Info
	build func(a *args) any
}

func p(name, def, doc string) Param { return Param{Name: name, Default: def, Doc: doc} }

var registry = []entry{
	{Info{Name: "none", DefaultKeep: "1.0", Count: "all tokens", Doc: "keep every visual token (no pruning)"},
		func(a *args) any { return Identity{} }},
	{Info{Name: "random", DefaultKeep: "0.25", Count: "exactly keep",
		Params: []Param{p("seed", "0", "seed of the splitmix64 generator")},
		Doc:    "uniformly random tokens, seeded (baseline)"},
		func(a *args) any { return Random{Seed: a.uint64v("seed")} }},
	{Info{Name: "stride", DefaultKeep: "0.25", Count: "exactly keep",
		Params: []Param{p("mode", "grid", "grid: a×b lattice of the token grid; 1d: floor(i·N/keep)")},
		Doc:    "regular lattice of the token grid (baseline)"},
		func(a *args) any { return Stride{Mode: a.enum("mode", "grid", "1d")} }},
	{Info{Name: "pool", DefaultKeep: "0.25", Count: "exactly keep",
		Params: []Param{p("mode", "grid", "grid: adaptive 2-D average pooling to a×b; 1d: pool raster runs")},
		Doc:    "2-D average pooling of the token grid to the budget (baseline)"},
		func(a *args) any { return Pool{Mode: a.enum("mode", "grid", "1d")} }},
	{Info{Name: "divprune", DefaultKeep: "0.098", Count: "exactly keep",
		Doc: "greedy max-min cosine diversity of the projected tokens (DivPrune, CVPR'25)"},
		func(a *args) any { return DivPrune{} }},
	{Info{Name: "fastervlm", DefaultKeep: "0.1", Count: "exactly keep",
		Doc: "top tokens by the encoder's [CLS] attention (FasterVLM)"},
		func(a *args) any { return FasterVLM{} }},
	{Info{Name: "fopru", DefaultKeep: "0.25", Count: "exactly keep",
		Params: []Param{p("strategy", "rank", "rank: global top by CLS attention; row: best grid rows, the last one partial")},
		Doc:    "encoder-attention pruning with rank or row strategy (FoPru; paper-only)"},
		func(a *args) any { return FoPru{Strategy: a.enum("strategy", "rank", "row")} }},
	{Info{Name: "visionzip", DefaultKeep: "64", Count: "keep (dominant+contextual if both set; fewer when too few patches remain)",
		Params: []Param{
			p("dominant", "0", "dominant tokens incl. CLS; 0 = keep − contextual"),
			p("contextual", "0", "contextual (merged) tokens; 0 = round(keep·10/64)"),
			p("cls", "auto", "auto: include the CLS token when the model provides it; on: require it; off"),
			p("order", "official", "official: dominant then contextual; spatial: sorted by source")},
		Doc: "dominant by CLS attention + contextual key-similarity merges (VisionZip, CVPR'25)"},
		func(a *args) any {
			return VisionZip{Dominant: a.intv("dominant", 0, 1<<30), Contextual: a.intv("contextual", 0, 1<<30),
				CLS: a.enum("cls", "auto", "on", "off"), Order: a.enum("order", "official", "spatial")}
		}},
	{Info{Name: "dart-pre", DefaultKeep: "128", Count: "p_img + (p_img+p_txt)·⌊keep/(p_img+p_txt)⌋ (132 for 128) unless exact",
		Params: []Param{
			p("image_pivots", "4", "visual pivots (largest L1 norm)"),
			p("text_pivots", "4", "text pivots from the prompt embeddings; 0 = no text needed"),
			p("pivot", "features", "features or keys (encoder keys) for the visual pivots' L1 norm"),
			p("exact", "false", "spend exactly keep tokens")},
		Doc: "DART's duplicate-avoiding pivots run on the projected tokens (approximation)"},
		func(a *args) any {
			return DARTPre{ImagePivots: a.intv("image_pivots", 1, 1<<20), TextPivots: a.intv("text_pivots", 0, 1<<20),
				Pivot: a.enum("pivot", "features", "keys"), Exact: a.boolean("exact")}
		}},
	{Info{Name: "cdpruner", DefaultKeep: "64", Count: "exactly keep",
		Params: []Param{
			p("relevance", "neg", "neg: official inverted text relevance; pos; none: plain DPP"),
			p("theta", "0", "0 = off; else rel ← exp(θ/(2(1−θ))·rel)")},
		Doc: "conditional DPP MAP over similarity and text relevance (CDPruner, NeurIPS'25)"},
		func(a *args) any {
			return CDPruner{Relevance: a.enum("relevance", "neg", "pos", "none"),
				Theta: a.float("theta", "a number in [0, 1)", func(x float64) bool { return x >= 0 && x < 1 })}
		}},
	{Info{Name: "tome", DefaultKeep: "0.25", Count: "exactly keep",
		Params: []Param{
			p("mode", "wavg", "wavg: ToMe size-weighted mean; mean: AIM plain mean"),
			p("metric", "features", "features (AIM) or keys (ToMe-ViT)"),
			p("order", "official", "official: unmerged then destinations; spatial: sorted by source")},
		Doc: "bipartite soft matching merges, rounds until keep (ToMe ICLR'23 / AIM merge)"},
		func(a *args) any {
			return ToMe{Mode: a.enum("mode", "wavg", "mean"), Metric: a.enum("metric", "features", "keys"),
				Order: a.enum("order", "official", "spatial")}
		}},
	{Info{Name: "todre", DefaultKeep: "0.1", Count: "exactly keep",
		Params: []Param{
			p("mode", "kcenter", "kcenter (ToDRE v1) or maxsum (v2)"),
			p("dist", "cosine", "cosine or euclid")},
		Doc: "ToDRE stage 1: greedy diversity selection (paper-only)"},
		func(a *args) any {
			return ToDRE{Mode: a.enum("mode", "kcenter", "maxsum"), Dist: a.enum("dist", "cosine", "euclid")}
		}},
	{Info{Name: "adaptive", DefaultKeep: "1.0", Count: "smallest set with score mass >= mass (coverage: covering all tokens within radius), in [min, min(max, keep)]",
		Params: []Param{
			p("mass", "0.9", "score mass to keep, in (0, 1]"),
			p("min", "1", "lower bound (ratio or count)"),
			p("max", "", "upper bound (ratio or count); unset = keep"),
			p("score", "cls", "cls: CLS attention; norm: feature L2 norm; coverage: DivPrune picks until every token is within radius"),
			p("radius", "0.1", "score=coverage: covering radius (cosine distance) in [0, 2]")},
		Doc: "adaptive per-image budget by attention mass or diversity coverage (ATP-LLaVA idea, training-free)"},
		func(a *args) any {
			m := NewAdaptive(a.float("mass", "a number in (0, 1]", func(x float64) bool { return x > 0 && x <= 1 }),
				a.budget("min"), a.budget("max"), a.enum("score", "cls", "norm", "coverage"))
			m.Radius = a.float("radius", "a number in [0, 2]", func(x float64) bool { return x >= 0 && x <= 2 })
			return m
		}},
	// Temporal (video / frame-sequence) methods: Visual.Frames frames; see temporal.go.
	{Info{Name: "dtd", DefaultKeep: "1.0", Count: "content-adaptive (sim > tau dropped), then at most keep (global, or keep/F per frame)",
		Params: []Param{
			p("tau", "auto", "absolute: drop a token whose cosine to the same position of the previous frame is > tau (pixel: whose mean |Δpixel| is < tau); relative: fraction dropped per frame; auto: 0.5 (feature), 0.1 (pixel)"),
			p("mode", "absolute", "absolute (reference default) or relative"),
			p("input", "feature", "feature: the projected tokens; pixel: the encoder's input pixels of each token"),
			p("scope", "global", "budget over all frames (global) or keep/F per frame (frame)")},
		Doc: "first frame whole, later tokens dropped when unchanged from the previous frame (TimeChat-Online DTD)"},
		func(a *args) any {
			tau := math.NaN()
			if a.vals["tau"] != "auto" {
				tau = a.float("tau", "auto or a number in [-1, 1]", func(x float64) bool { return x >= -1 && x <= 1 })
			}
			return DTD{Tau: tau, Mode: a.enum("mode", "absolute", "relative"), Input: a.enum("input", "feature", "pixel"),
				Scope: a.enum("scope", "global", "frame")}
		}},
	{Info{Name: "dycoke", DefaultKeep: "1.0", Count: "pruned frames keep int((1−k)·n) (F=32, n=196: 3,098 of 6,272), then at most keep",
		Params: []Param{
			p("k", "0.7", "fraction of a pruned frame's tokens removed, in [0, 1)"),
			p("order", "official", "official: least similar first (topk order); spatial: by position"),
			p("odd", "keep", "odd frame count: keep the last frame whole; drop: the reference's quirk"),
			p("scope", "global", "budget over all frames (global) or keep/F per frame (frame)")},
		Doc: "token temporal merging: pairwise and 4-frame least-similar token selection (DyCoke TTM, CVPR'25)"},
		func(a *args) any {
			return DyCoke{K: a.float("k", "a number in [0, 1)", func(x float64) bool { return x >= 0 && x < 1 }),
				Order: a.enum("order", "official", "spatial"), Odd: a.enum("odd", "keep", "drop"), Scope: a.enum("scope", "global", "frame")}
		}},
	{Info{Name: "fastvid", DefaultKeep: "0.1", Count: "int(keep/F) per frame: salient + segment anchors (integer division may lose a few), at most keep",
		Params: []Param{
			p("c", "8", "segments wanted: the c−1 lowest frame similarities are cuts"),
			p("tau", "0.9", "frame similarity below which frames are cut"),
			p("d", "0.4", "context (anchor) share of the per-frame budget"),
			p("p", "4", "anchor-frame period in a segment"),
			p("beta", "0.6", "minimum anchor weight in the merge"),
			p("knn", "4", "DPC-kNN neighbours"),
			p("seed", "", "unset: DPC ties by lowest index; an integer: the reference's 1e-6 density noise, seeded"),
			p("scope", "global", "budget over all frames (global) or keep/F per frame (frame)")},
		Doc: "dynamic segmentation, salient tokens + density anchors merged over the segment (FastVID, NeurIPS'25)"},
		func(a *args) any {
			return FastVID{C: a.intv("c", 1, 1<<20), Tau: a.float("tau", "a number in [-1, 1]", func(x float64) bool { return x >= -1 && x <= 1 }),
				D: a.float("d", "a number in [0, 1]", func(x float64) bool { return x >= 0 && x <= 1 }), P: a.intv("p", 1, 1<<20),
				Beta: a.float("beta", "a number in [0, 1]", func(x float64) bool { return x >= 0 && x <= 1 }), KNN: a.intv("knn", 1, 1<<20),
				Seed: a.seed(), Scope: a.enum("scope", "global", "frame")}
		}},
	{Info{Name: "prunevid", DefaultKeep: "1.0", Count: "content-dependent (static merges, int(n·ratio) clusters above 14 tokens), then at most keep",
		Params: []Param{
			p("tau", "0.8", "mean pairwise cosine above which a position is static in a window"),
			p("ratio", "0.5", "cluster_ratio: clusters per token set above 14 tokens"),
			p("segment", "0.25", "temporal_segment_ratio: frame clusters per frame"),
			p("knn", "7", "DPC-kNN neighbours"),
			p("order", "official", "official: static then dynamic clusters in DPC rank; spatial: by position"),
			p("seed", "", "unset: DPC ties by lowest index; an integer: the reference's 1e-6 density noise, seeded"),
			p("scope", "global", "budget over all frames (global) or keep/F per frame (frame)")},
		Doc: "temporal windows, static-token merge and DPC-kNN clustering (PruneVid pre-LLM stage, ACL'25)"},
		func(a *args) any {
			unit := func(x float64) bool { return x > 0 && x <= 1 }
			return PruneVid{Tau: a.float("tau", "a number in [-1, 1]", func(x float64) bool { return x >= -1 && x <= 1 }),
				Ratio: a.float("ratio", "a number in (0, 1]", unit), Segment: a.float("segment", "a number in (0, 1]", unit),
				KNN: a.intv("knn", 1, 1<<20), Order: a.enum("order", "official", "spatial"), Seed: a.seed(), Scope: a.enum("scope", "global", "frame")}
		}},
	{Info{Name: "holitom", DefaultKeep: "0.1", Count: "retain ratio keep/N rescaled by the temporal merge (ceil per frame), at most keep",
		Params: []Param{
			p("tau", "0.8", "similarity above which a position is static (scripts: 0.65 at ratio 0.1)"),
			p("beta", "0.6", "centre weight of a static-cluster merge"),
			p("d", "0", "share of a frame's dynamic budget merged as DPC clusters"),
			p("knn", "7", "DPC-kNN neighbours (at most the cluster count)"),
			p("max_window", "1024", "longest temporal window"),
			p("seed", "", "unset: DPC ties by lowest index; an integer: the reference's 1e-6 density noise, seeded"),
			p("scope", "global", "budget over all frames (global) or keep/F per frame (frame)")},
		Doc: "DP temporal segmentation, static tokens merged over windows, dynamic by attention (HoliTom outer-LLM, NeurIPS'25)"},
		func(a *args) any {
			return HoliTom{Tau: a.float("tau", "a number in [-1, 1]", func(x float64) bool { return x >= -1 && x <= 1 }),
				Beta: a.float("beta", "a number in [0, 1]", func(x float64) bool { return x >= 0 && x <= 1 }),
				D:    a.float("d", "a number in [0, 1]", func(x float64) bool { return x >= 0 && x <= 1 }),
				KNN:  a.intv("knn", 1, 1<<20), MaxWindow: a.intv("max_window", 2, 1<<20), Seed: a.seed(), Scope: a.enum("scope", "global", "frame")}
		}},
	{Info{Name: "fastv", Stage: InDecoderStage, Count: "round(N·(1−r)), or the --keep count",
		Params: []Param{p("k", "2", "prune after layer k−1"), p("r", "0.5", "drop ratio in [0, 1)")},
		Doc:    "drop low last-token attention after layer K−1 (FastV, ECCV'24)"},
		func(a *args) any {
			return FastV{K: a.intv("k", 1, 1<<16), R: a.float("r", "a number in [0, 1)", func(x float64) bool { return x >= 0 && x < 1 })}
		}},
	{Info{Name: "pdrop", Stage: InDecoderStage, Count: "int(N·ratio) per stage (576→288→144→72); --keep k: geometric to k",
		Params: []Param{
			p("layers", "8/16/24", "stage starts b (boundary after layer b−1); unset: the paper's L/4, L/2, 3L/4 of an L-layer decoder (8/16/24 at 32 layers)"),
			p("ratios", "0.5/0.25/0.125", "fraction of N kept from each stage")},
		Doc: "pyramid of last-token attention drops, renumbered per stage (PyramidDrop, CVPR'25)"},
		func(a *args) any {
			m := PDrop{LayerList: a.ints("layers", 1, 1<<16, true), scale: !a.given["layers"],
				Ratios: a.floats("ratios", "numbers in (0, 1] separated by /", func(x float64) bool { return x > 0 && x <= 1 })}
			if m.scale && len(m.Ratios) > 0 && len(m.Ratios) != len(m.LayerList) {
				// S ratios without layers: S+1 equal stages of a 32-layer
				// decoder, scaled to the real depth by FitDepth.
				m.LayerList = make([]int, len(m.Ratios))
				for s := range m.LayerList {
					m.LayerList[s] = (s + 1) * 32 / (len(m.Ratios) + 1)
				}
			}
			a.check(len(m.LayerList) > 0 && len(m.LayerList) == len(m.Ratios), "%d layers but %d ratios", len(m.LayerList), len(m.Ratios))
			return m
		}},
	{Info{Name: "sparsevlm", Stage: InDecoderStage, DefaultKeep: "64", Count: "per-layer counts (+ recycled clusters); --keep is layer-averaged",
		Params: []Param{
			p("layers", "2/6/15", "prune the output of these layers"),
			p("counts", "", "tokens kept per layer; unset = from --keep (64 → 66/30/17)"),
			p("recycle", "true", "merge the best pruned tokens back (DPC-kNN)")},
		Doc: "text-rater attention pruning with recycling (SparseVLM v1.5, ICML'25)"},
		func(a *args) any {
			m := SparseVLM{LayerList: a.ints("layers", 0, 1<<16, true), Counts: a.ints("counts", 1, 1<<30, false), Recycle: a.boolean("recycle")}
			a.check(len(m.LayerList) > 0, "no layers")
			a.check(m.Counts == nil || len(m.Counts) == len(m.LayerList), "%d counts for %d layers", len(m.Counts), len(m.LayerList))
			return m
		}},
	{Info{Name: "aim", Stage: InDecoderStage, Count: "int(retain·N) per layer, down to 0 (or the --keep floor)",
		Params: []Param{
			p("start", "14", "first pruning layer"),
			p("step", "0.125", "retention lost per layer"),
			p("tau", "0.1", "attention temperature")},
		Doc: "progressive attention-importance pruning to zero (AIM, ICCV'25; last-row approximation)"},
		func(a *args) any {
			return AIMPrune{Start: a.intv("start", 0, 1<<16),
				Step: a.float("step", "a number in (0, 1]", func(x float64) bool { return x > 0 && x <= 1 }),
				Tau:  a.float("tau", "a number > 0", func(x float64) bool { return x > 0 })}
		}},
	{Info{Name: "dart", Stage: InDecoderStage, DefaultKeep: "128", Count: "p_img + (p_img+p_txt)·⌊B/(p_img+p_txt)⌋, B = 128 or --keep (132 for 128)",
		Params: []Param{
			p("k", "2", "prune after layer k−1"),
			p("image_pivots", "4", "visual pivots"),
			p("text_pivots", "4", "text pivots"),
			p("pivot", "keys", "keys: L1 norm of decoder keys; hidden: of hidden states"),
			p("exact", "false", "spend exactly the budget")},
		Doc: "keep tokens least similar to key-norm pivots (DART, EMNLP'25)"},
		func(a *args) any {
			return DART{K: a.intv("k", 1, 1<<16), ImagePivots: a.intv("image_pivots", 1, 1<<20),
				TextPivots: a.intv("text_pivots", 0, 1<<20), Pivot: a.enum("pivot", "keys", "hidden"), Exact: a.boolean("exact")}
		}},
	{Info{Name: "adaptive-fastv", Stage: InDecoderStage, Count: "smallest set with attention mass >= mass (coverage: picks covering the hidden states within radius), in [min, max]",
		Params: []Param{
			p("k", "2", "prune after layer k−1"),
			p("mass", "0.9", "attention mass to keep, in (0, 1]"),
			p("min", "1", "lower bound (ratio or count)"),
			p("max", "", "upper bound (ratio or count); unset = all"),
			p("signal", "mass", "mass: attention mass; coverage: DivPrune picks on the hidden states until every token is within radius"),
			p("radius", "0.1", "signal=coverage: covering radius (cosine distance) in [0, 2]")},
		Doc: "adaptive per-image budget at FastV's layer by attention mass or hidden-state coverage"},
		func(a *args) any {
			m := NewAdaptiveFastV(a.intv("k", 1, 1<<16),
				a.float("mass", "a number in (0, 1]", func(x float64) bool { return x > 0 && x <= 1 }),
				a.budget("min"), a.budget("max"))
			m.Signal = a.enum("signal", "mass", "coverage")
			m.Radius = a.float("radius", "a number in [0, 2]", func(x float64) bool { return x >= 0 && x <= 2 })
			return m
		}},
	{Info{Name: "dycoke-kv", Stage: InDecoderStage, Count: "prefill keeps all; each decode step whose image attention changed (cos < threshold) attends to int(n·(1−p)) image keys in layers ≥ l",
		Params: []Param{
			p("l", "3", "select before layer l from layer l−1's attention row of the new token"),
			p("p", "0.8", "fraction of image keys left out at a selecting step, in [0, 1) (lmms-eval 0.8)"),
			p("threshold", "0.9", "cosine to the previous step's image attention at or above which the full cache is used")},
		Doc: "decode-time dynamic KV selection of image keys, KV kept whole (DyCoke stage 2, CVPR'25)"},
		func(a *args) any {
			return DyCokeKV{L: a.intv("l", 1, 1<<16), P: a.float("p", "a number in [0, 1)", func(x float64) bool { return x >= 0 && x < 1 }),
				Threshold: a.float("threshold", "a number in [-1, 1]", func(x float64) bool { return x >= -1 && x <= 1 })}
		}},
	{Info{Name: "holitom-inner", Stage: InDecoderStage, Count: "round(n·(1−r)) of the n present, or the --keep count",
		Params: []Param{p("k", "18", "merge after layer k−1 (scripts: 18 on the 28-layer Qwen2)"), p("r", "0.5", "fraction merged away, in [0, 1)")},
		Doc:    "keep top last-token attention after layer K−1, fold the rest into their most similar kept hidden state (HoliTom inner-LLM, NeurIPS'25)"},
		func(a *args) any {
			return HoliTomInner{K: a.intv("k", 1, 1<<16), R: a.float("r", "a number in [0, 1)", func(x float64) bool { return x >= 0 && x < 1 })}
		}},
	{Info{Name: "prunevid-inner", Stage: InDecoderStage, Count: "per window int(n_static·alpha) static and per frame int(n_dynamic·alpha) dynamic tokens of prunevid's grouping",
		Params: []Param{
			p("layer", "auto", "select after this layer (0-based); auto: the reference's 10 of 32 layers scaled to the decoder, ⌊10·n/32⌋"),
			p("alpha", "0.4", "fraction kept per static set and per frame's dynamic set, in (0, 1]")},
		Doc: "keep top RoPE-free, unmasked attention per window and frame after layer 10, KV of earlier layers gathered too (PruneVid in-LLM, ACL'25); only as prunevid+prunevid-inner"},
		func(a *args) any {
			m := PruneVidInner{Alpha: a.float("alpha", "a number in (0, 1]", func(x float64) bool { return x > 0 && x <= 1 })}
			if a.vals["layer"] == "auto" {
				m.Layer, m.Scale = prunevidRefLayer, true
			} else {
				m.Layer = a.intv("layer", 0, 1<<16)
			}
			return m
		}},
	// Issue 15: VFlowOpt, FlowCut, MustDrop, GlobalCom², ZipVL, CATP.
	{Info{Name: "vflowopt", DefaultKeep: "0.1", Count: "keep − int(N/m²) + recycled groups (up to the number of m×m cells over keep); exact: keep",
		Params: []Param{
			p("t", "39.26", "global tokens: received attention > t × mean"),
			p("m", "17.39", "recycling cell size in tokens"),
			p("attn", "auto", "attention proxy: auto (keys if present, else features), keys, features, cls"),
			p("exact", "false", "spend exactly keep tokens")},
		Doc: "encoder-attention importance, pruned tokens recycled per spatial cell (VFlowOpt, ICCV'25)"},
		func(a *args) any {
			return VFlowOpt{T: a.float("t", "a number >= 0", func(x float64) bool { return x >= 0 }),
				M:    a.float("m", "a number > 0", func(x float64) bool { return x > 0 }),
				Attn: a.enum("attn", "auto", "keys", "features", "cls"), Exact: a.boolean("exact")}
		}},
	{Info{Name: "flowcut", DefaultKeep: "128", Count: "exactly keep",
		Params: []Param{p("value", "auto", "value proxy: auto (pre-projector if present), preproj, features")},
		Doc:    "CLS + semantic attention times value L1 norm, feature layer only (FlowCut, NeurIPS'25; approximation)"},
		func(a *args) any { return FlowCut{Value: a.enum("value", "auto", "preproj", "features")} }},
	{Info{Name: "mustdrop-merge", DefaultKeep: "192", Count: "N − 8·(merged windows), then at most keep by CLS attention",
		Params: []Param{
			p("threshold", "0.8", "3×3 window mean pairwise cosine to merge"),
			p("order", "official", "official: merged (score order) then unmerged; spatial: sorted by source")},
		Doc: "MustDrop stage 1: 3×3 spatial merge + CLS key set (MustDrop)"},
		func(a *args) any {
			return MustDropMerge{Threshold: a.float("threshold", "a number in [-1, 1]", func(x float64) bool { return x >= -1 && x <= 1 }),
				Order: a.enum("order", "official", "spatial")}
		}},
	{Info{Name: "globalcom2", DefaultKeep: "0.25", Count: "⌊keep·T/N⌋ + Σ int(T·scale_tile) ≤ keep",
		Params: []Param{
			p("score", "auto", "auto (cls if present), cls: log CLS attention, mean: similarity to the view's mean token"),
			p("global", "last", "the global view is the last (SmolVLM) or first (LLaVA-NeXT)"),
			p("layout", "auto", "tile grid RxC; auto: the runner's, else a square")},
		Doc: "thumbnail-guided per-tile budgets for tiled images (GlobalCom², AAAI'26)"},
		func(a *args) any {
			m := GlobalCom2{Score: a.enum("score", "auto", "cls", "mean"), Global: a.enum("global", "last", "first"),
				Layout: a.vals["layout"]}
			if !validLayout(m.Layout) {
				a.fail("layout", "auto or RxC such as 4x4")
			}
			return m
		}},
	{Info{Name: "catp", DefaultKeep: "0.222", Count: "exactly keep",
		Params: []Param{p("lambda", "0.5", "weight of text alignment vs diversity, in [0, 1]")},
		Doc:    "stage 1: greedy diversity + prompt alignment (CATP, AAAI'26; paper-only)"},
		func(a *args) any {
			return CATP{Lambda: a.float("lambda", "a number in [0, 1]", func(x float64) bool { return x >= 0 && x <= 1 })}
		}},
	{Info{Name: "mustdrop", Stage: InDecoderStage, Count: "tokens passing the dual filter (content-dependent); --keep k: the thresholds nearest k·576/N, at most k",
		Params: []Param{
			p("layers", "2/6/10/14", "filter the output of these layers"),
			p("global_thr", "0.0012", "drop if Σ text attention < global_thr·Σ over visual tokens …"),
			p("individual_thr", "0.001", "… and max text attention < individual_thr"),
			p("key", "0.08", "always keep the top ⌈key·n⌉ by text attention")},
		Doc: "MustDrop stage 2: text→image dual-attention filter at prefill (MustDrop)"},
		func(a *args) any {
			m := MustDrop{LayerList: a.ints("layers", 0, 1<<16, true),
				Global:     a.float("global_thr", "a number >= 0", func(x float64) bool { return x >= 0 }),
				Individual: a.float("individual_thr", "a number >= 0", func(x float64) bool { return x >= 0 }),
				Key:        a.float("key", "a number in [0, 1]", func(x float64) bool { return x >= 0 && x <= 1 })}
			a.check(len(m.LayerList) > 0, "no layers")
			return m
		}},
	{Info{Name: "zipvl", Stage: InDecoderStage, Count: "visual tokens among the smallest top set holding τ of the attention mass",
		Params: []Param{
			p("layers", "1", "prune the output of these layers"),
			p("tau", "0.975", "attention mass share of the important tokens, in (0, 1]"),
			p("probes", "64", "probe queries: the last tokens after the image (0: the last token only)")},
		Doc: "attention-distribution-driven keep ratio per layer (ZipVL; paper-only)"},
		func(a *args) any {
			m := NewZipVL(a.ints("layers", 0, 1<<16, true),
				a.float("tau", "a number in (0, 1]", func(x float64) bool { return x > 0 && x <= 1 }), a.intv("probes", 0, 1<<16))
			a.check(len(m.LayerList) > 0, "no layers")
			return m
		}},
}

func init() {
	for i := range registry {
		e := &registry[i]
		m, err := build(e, nil)
		if err != nil {
			panic("pruning: registry default of " + e.info.Name + ": " + err.Error())
		}
		e.info.Needs, e.info.Positions = m.Info.Needs, m.Info.Positions
	}
}

// Methods lists every method, pre-decoder methods first, in a fixed order.
func Methods() []Info {
	out := make([]Info, len(registry))
	for i, e := range registry {
		out[i] = e.info
		out[i].Params = slices.Clone(e.info.Params)
	}
	slices.SortStableFunc(out, func(a, b Info) int { return int(a.Stage) - int(b.Stage) })
	return out
}

func names() string {
	n := make([]string, len(registry))
	for i, e := range registry {
		n[i] = e.info.Name
	}
	return strings.Join(n, ", ")
}

// Parse reads a method specification "name[:param=value,...]" (names and
// parameter names are case-insensitive; list values are separated by "/"
// or by further commas, as in pdrop:layers=8,16,24), or a combination of a
// pre-decoder and an in-decoder method "PRE+IN" (see combine.go). Unknown
// methods, unknown parameters and bad values are errors (ErrUnknownMethod,
// ErrUnknownParam, ErrBadValue) that list what is valid.
func Parse(spec string) (Method, error) {
	if pre, in, ok := splitStages(spec); ok {
		return parseCombined(pre, in)
	}
	name, kv, err := splitSpec(spec)
	if err != nil {
		return Method{}, err
	}
	i := slices.IndexFunc(registry, func(e entry) bool { return e.info.Name == name })
	if i < 0 {
		return Method{}, fmt.Errorf("pruning: %w %q (valid: %s)", ErrUnknownMethod, name, names())
	}
	return build(&registry[i], kv)
}

func build(e *entry, kv [][2]string) (Method, error) {
	a := &args{method: e.info.Name, vals: map[string]string{}}
	for _, p := range e.info.Params {
		a.vals[p.Name] = p.Default
	}
	given := map[string]bool{}
	for _, x := range kv {
		if _, ok := a.vals[x[0]]; !ok {
			valid := "none"
			if len(e.info.Params) > 0 {
				ps := make([]string, len(e.info.Params))
				for i, p := range e.info.Params {
					ps[i] = p.Name
				}
				valid = strings.Join(ps, ", ")
			}
			return Method{}, fmt.Errorf("pruning: %s: %w %q (valid: %s)", e.info.Name, ErrUnknownParam, x[0], valid)
		}
		if given[x[0]] {
			return Method{}, fmt.Errorf("pruning: %s: parameter %s given twice: %w", e.info.Name, x[0], ErrBadValue)
		}
		given[x[0]] = true
		a.vals[x[0]] = x[1]
	}
	a.given = given
	v := e.build(a)
	if a.err != nil {
		return Method{}, a.err
	}
	m := Method{Info: e.info}
	m.Info.Params = slices.Clone(e.info.Params)
	for _, p := range e.info.Params {
		m.vals = append(m.vals, [2]string{p.Name, a.vals[p.Name]})
	}
	switch x := v.(type) {
	case PreDecoder:
		m.Pre, m.Info.Needs, m.Info.Positions = x, x.Needs(), Renumber
		if _, ok := x.(Identity); ok {
			m.Info.Positions = KeepOriginal
		}
	case InDecoder:
		m.In, m.Info.Needs, m.Info.Positions = x, x.Needs(), x.Positions()
	default:
		return Method{}, fmt.Errorf("pruning: %s: registry builds %T: %w", e.info.Name, v, ErrUnknownMethod)
	}
	return m, nil
}
