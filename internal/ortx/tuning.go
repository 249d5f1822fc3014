package ortx

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"unicode"

	ort "github.com/yalue/onnxruntime_go"
)

// Tuning holds the ONNX Runtime session options that change speed and
// memory but never results (apart from float rounding of fused kernels).
// The zero value keeps ORT's own defaults, so that an unset option is
// never a silent choice of vlmrun's.
type Tuning struct {
	// Opt is the graph optimization level: "" (ORT's default, all),
	// "disable", "basic", "extended" or "all".
	Opt string
	// Spin sets session.intra_op.allow_spinning and
	// session.inter_op.allow_spinning: worker threads spin while waiting for
	// work (ORT's default on) or sleep.
	Spin Switch
	// Arena turns the CPU memory arena on or off (ORT: on).
	Arena Switch
	// MemPattern turns memory-pattern planning on or off (ORT: on).
	MemPattern Switch
	// Prepack turns weight prepacking on or off (session.disable_prepacking;
	// ORT: on). Prepacked kernels keep their own copy of a constant weight.
	Prepack Switch
	// Config are further session config entries, key=value, in order
	// (e.g. session.force_spinning_stop=1).
	Config []ConfigEntry
}

// Switch is an on/off option that can also be left at ORT's default.
type Switch int8

// Switch values.
const (
	Default Switch = iota
	On
	Off
)

func (s Switch) String() string {
	switch s {
	case On:
		return "on"
	case Off:
		return "off"
	}
	return "default"
}

// ConfigEntry is one ORT session config entry.
type ConfigEntry struct{ Key, Value string }

// TuningEnv is the environment variable read when no --ort-options flag
// is given: the same syntax as ParseTuning.
const TuningEnv = "VLMRUN_ORT_OPTIONS"

// optLevels maps Tuning.Opt to ORT's levels.
var optLevels = map[string]ort.GraphOptimizationLevel{
	"disable":  ort.GraphOptimizationLevelDisableAll,
	"basic":    ort.GraphOptimizationLevelEnableBasic,
	"extended": ort.GraphOptimizationLevelEnableExtended,
	"all":      ort.GraphOptimizationLevelEnableAll,
}

// ParseTuning reads comma-separated settings: opt=disable|basic|extended|all,
// spin=on|off, arena=on|off, mem-pattern=on|off, prepack=on|off, and raw
// session config entries as KEY=VALUE where KEY holds a dot
// (session.force_spinning_stop=1). "" and "default" leave everything at
// ORT's defaults. A setting given twice is refused.
func ParseTuning(s string) (Tuning, error) {
	var t Tuning
	s = strings.TrimSpace(s)
	if s == "" || s == "default" {
		return t, nil
	}
	seen := map[string]bool{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		k, v, ok := strings.Cut(part, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" || v == "" {
			return Tuning{}, fmt.Errorf("ortx: session option %q: want KEY=VALUE", part)
		}
		if strings.ContainsFunc(part, unicode.IsControl) {
			// a NUL would cut the key or value short on its way to C
			return Tuning{}, fmt.Errorf("ortx: session option %q has a control character", part)
		}
		if seen[k] {
			return Tuning{}, fmt.Errorf("ortx: session option %q given twice", k)
		}
		seen[k] = true
		var sw *Switch
		switch k {
		case "opt":
			if _, ok := optLevels[v]; !ok {
				return Tuning{}, fmt.Errorf("ortx: session option opt=%q: want disable, basic, extended or all", v)
			}
			t.Opt = v
			continue
		case "spin":
			sw = &t.Spin
		case "arena":
			sw = &t.Arena
		case "mem-pattern":
			sw = &t.MemPattern
		case "prepack":
			sw = &t.Prepack
		default:
			if !strings.Contains(k, ".") {
				return Tuning{}, fmt.Errorf("ortx: unknown session option %q (want opt, spin, arena, mem-pattern, prepack or an ORT config key such as session.disable_prepacking)", k)
			}
			t.Config = append(t.Config, ConfigEntry{k, v})
			continue
		}
		switch v {
		case "on":
			*sw = On
		case "off":
			*sw = Off
		default:
			return Tuning{}, fmt.Errorf("ortx: session option %s=%q: want on or off", k, v)
		}
	}
	return t, nil
}

// TuningFromEnv parses $VLMRUN_ORT_OPTIONS (empty: ORT's defaults).
func TuningFromEnv() (Tuning, error) {
	t, err := ParseTuning(os.Getenv(TuningEnv))
	if err != nil {
		return Tuning{}, fmt.Errorf("$%s: %w", TuningEnv, err)
	}
	return t, nil
}

// String is the canonical form ParseTuning reads back ("default" when
// nothing is set); equal settings give equal strings.
func (t Tuning) String() string {
	var parts []string
	if t.Opt != "" {
		parts = append(parts, "opt="+t.Opt)
	}
	for _, s := range []struct {
		k string
		v Switch
	}{{"spin", t.Spin}, {"arena", t.Arena}, {"mem-pattern", t.MemPattern}, {"prepack", t.Prepack}} {
		if s.v != Default {
			parts = append(parts, s.k+"="+s.v.String())
		}
	}
	cfg := slices.Clone(t.Config)
	slices.SortStableFunc(cfg, func(a, b ConfigEntry) int { return strings.Compare(a.Key, b.Key) })
	for _, c := range cfg {
		parts = append(parts, c.Key+"="+c.Value)
	}
	if len(parts) == 0 {
		return "default"
	}
	return strings.Join(parts, ",")
}

// apply sets t on so.
func (t Tuning) apply(so *ort.SessionOptions) error {
	if t.Opt != "" {
		lvl, ok := optLevels[t.Opt]
		if !ok {
			return fmt.Errorf("ortx: unknown graph optimization level %q", t.Opt)
		}
		if err := so.SetGraphOptimizationLevel(lvl); err != nil {
			return fmt.Errorf("ortx: set graph optimization level: %w", err)
		}
	}
	entry := func(k, v string) error {
		if err := so.AddSessionConfigEntry(k, v); err != nil {
			return fmt.Errorf("ortx: set %s=%s: %w", k, v, err)
		}
		return nil
	}
	if t.Spin != Default {
		v := map[Switch]string{On: "1", Off: "0"}[t.Spin]
		if err := entry("session.intra_op.allow_spinning", v); err != nil {
			return err
		}
		if err := entry("session.inter_op.allow_spinning", v); err != nil {
			return err
		}
	}
	if t.Arena != Default {
		if err := so.SetCpuMemArena(t.Arena == On); err != nil {
			return fmt.Errorf("ortx: set the CPU memory arena: %w", err)
		}
	}
	if t.MemPattern != Default {
		if err := so.SetMemPattern(t.MemPattern == On); err != nil {
			return fmt.Errorf("ortx: set the memory pattern: %w", err)
		}
	}
	if t.Prepack != Default {
		if err := entry("session.disable_prepacking", map[Switch]string{On: "0", Off: "1"}[t.Prepack]); err != nil {
			return err
		}
	}
	for _, c := range t.Config {
		if err := entry(c.Key, c.Value); err != nil {
			return err
		}
	}
	return nil
}
