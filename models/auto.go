package models

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// CPU classes for AutoOrder.
const (
	// CPUInt8Dot: the CPU has int8 dot-product units ONNX Runtime's MLAS
	// uses for u8s8 GEMMs (AMX-INT8, AVX512-VNNI or AVX-VNNI).
	CPUInt8Dot = "int8-dot"
	// CPUPlain: none of them.
	CPUPlain = "plain"
)

// AutoOrder is --dtype auto's preference, fastest first, per CPU class and
// file role (Role); the first variant the folder has is chosen. The
// int8-dot orders are the medians of README "dtypes" (realistic-size
// SmolVLM, ONNX Runtime 1.24.3, 2 threads, an AMX-INT8 Xeon, quiet
// machine): vision encode q8 < fp32 ≈ fp16 < q4 at 512 px (487 / 1,023 /
// 1,047 / 1,118 ms) and 2048 px (8.5 / 17.1 / 18.6 / 19.1 s); decoder q8
// and q4 decode alike (61.5 / 62.8 tok/s) but q8 prefills in half q4's
// time (69 / 152 ms), then fp32 ≈ fp16 (32 tok/s, 163 ms; fp32 ahead at
// 2048 px). The embedding (a Gather of the prompt's rows, no measurable
// time) prefers q8 for its 4× smaller table. The plain orders were not
// measured (no CPU without int8 units was at hand) and keep fp32 first.
var AutoOrder = map[string]map[string][]string{
	CPUInt8Dot: {
		"vision":  {"q8", "fp32", "fp16", "q4"},
		"encoder": {"q8", "fp32", "fp16", "q4"},
		"embed":   {"q8", "fp32", "fp16", "q4"},
		"decoder": {"q8", "q4", "fp32", "fp16"},
	},
	CPUPlain: {
		"vision":  {"fp32", "q8", "q4", "fp16"},
		"encoder": {"fp32", "q8", "q4", "fp16"},
		"embed":   {"fp32", "q8", "fp16", "q4"},
		"decoder": {"fp32", "q8", "q4", "fp16"},
	},
}

// Role is a file base name's role for AutoOrder: "vision" (vision_encoder
// and the like), "embed" (embed_tokens), "encoder" (a text encoder:
// encoder_model) or "decoder" (anything else).
func Role(base string) string {
	switch {
	case strings.Contains(base, "vision"):
		return "vision"
	case strings.Contains(base, "embed"):
		return "embed"
	case strings.HasPrefix(base, "encoder"):
		return "encoder"
	}
	return "decoder"
}

var cpuOnce struct {
	sync.Once
	class string
	units []string
}

// CPUClass returns this CPU's class for AutoOrder and the int8 units
// /proc/cpuinfo lists (CPUPlain when it cannot be read).
func CPUClass() (string, []string) {
	cpuOnce.Do(func() {
		cpuOnce.class = CPUPlain
		f, err := os.Open("/proc/cpuinfo")
		if err != nil {
			return
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			k, v, ok := strings.Cut(sc.Text(), ":")
			if !ok || strings.TrimSpace(k) != "flags" {
				continue
			}
			have := map[string]bool{}
			for _, fl := range strings.Fields(v) {
				have[fl] = true
			}
			for _, u := range []string{"amx_int8", "avx512_vnni", "avx_vnni"} {
				if have[u] {
					cpuOnce.units = append(cpuOnce.units, u)
				}
			}
			if len(cpuOnce.units) > 0 {
				cpuOnce.class = CPUInt8Dot
			}
			return
		}
	})
	return cpuOnce.class, cpuOnce.units
}

// AutoChoose returns the dtype --dtype auto picks for base in dir on a CPU
// of class: the first of AutoOrder[class][Role(base)] whose file exists,
// else fp32.
func AutoChoose(dir, base, class string) string {
	for _, d := range AutoOrder[class][Role(base)] {
		p := filepath.Join(dir, "onnx", base+DTypeSuffix[d]+".onnx")
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return d
		}
	}
	return "fp32"
}

// resolveAuto fills PerFile for every base auto decides.
func (d DTypes) resolveAuto(dir string, bases []string) DTypes {
	if !d.Auto {
		return d
	}
	class, _ := CPUClass()
	out := DTypes{PerFile: map[string]string{}}
	for k, v := range d.PerFile {
		out.PerFile[k] = v
	}
	for _, b := range bases {
		if _, ok := out.PerFile[b]; !ok {
			out.PerFile[b] = AutoChoose(dir, b, class)
		}
	}
	return out
}
