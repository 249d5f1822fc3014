package models

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
)

// DTypeSuffix maps a transformers.js dtype to the suffix of its ONNX file
// names: onnx/{base}{suffix}.onnx.
var DTypeSuffix = map[string]string{
	"fp32": "", "fp16": "_fp16", "q8": "_quantized", "int8": "_int8", "uint8": "_uint8",
	"q4": "_q4", "q4f16": "_q4f16", "bnb4": "_bnb4",
}

// DTypes chooses the dtype of each ONNX file of a model: Default, unless
// PerFile (keyed by file base name, e.g. "decoder_model_merged") says
// otherwise. The zero value is fp32 everywhere.
//
// Auto (--dtype auto) picks, for each file PerFile does not name, the
// variant fastest on this CPU for the file's role (AutoOrder); ResolveFiles
// turns it into PerFile entries for the files the folder has.
type DTypes struct {
	Default string
	PerFile map[string]string
	Auto    bool
}

func dtypeNames() string {
	var n []string
	for k := range DTypeSuffix {
		n = append(n, k)
	}
	sort.Strings(n)
	return strings.Join(n, "|")
}

func checkDType(d string) error {
	if _, ok := DTypeSuffix[d]; !ok {
		return fmt.Errorf("models: unknown dtype %q (want %s)", d, dtypeNames())
	}
	return nil
}

// ParseDTypes reads the --dtype flag: a dtype for every file ("q4"), per-file
// dtypes ("embed_tokens=fp16,decoder_model_merged=q4") or both ("fp16,
// decoder_model_merged=q4"). "" means the model's default; "auto" (alone or
// with per-file entries) the fastest variant per file (DTypes.Auto).
func ParseDTypes(s string) (DTypes, error) {
	var d DTypes
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		file, dt, per := strings.Cut(part, "=")
		if !per && part == "auto" {
			d.Auto = true
			continue
		}
		if !per {
			if err := checkDType(part); err != nil {
				return d, err
			}
			d.Default = part
			continue
		}
		file, dt = strings.TrimSpace(file), strings.TrimSpace(dt)
		if file == "" {
			return d, fmt.Errorf("models: dtype %q: no file name before '='", part)
		}
		if err := checkDType(dt); err != nil {
			return d, err
		}
		if d.PerFile == nil {
			d.PerFile = map[string]string{}
		}
		d.PerFile[file] = dt
	}
	if d.Auto && d.Default != "" {
		return d, fmt.Errorf("models: dtype %q: auto and %s for every file exclude each other", s, d.Default)
	}
	return d, nil
}

// IsZero reports whether no dtype was chosen.
// Auto alone counts as zero: a model with a single set of files has
// nothing for it to choose.
func (d DTypes) IsZero() bool { return d.Default == "" && len(d.PerFile) == 0 }

// DTypeOf returns the dtype of an ONNX file from its name's suffix (fp32
// without one).
func DTypeOf(path string) string {
	name := strings.TrimSuffix(filepath.Base(path), ".onnx")
	best, n := "fp32", 0
	for d, sfx := range DTypeSuffix {
		if sfx != "" && strings.HasSuffix(name, sfx) && len(sfx) > n {
			best, n = d, len(sfx)
		}
	}
	return best
}

// Of returns the dtype of the file base (fp32 when nothing is chosen).
func (d DTypes) Of(base string) string {
	if t, ok := d.PerFile[base]; ok {
		return t
	}
	if d.Default != "" {
		return d.Default
	}
	return "fp32"
}

// Path returns dir/onnx/{base}{suffix}.onnx for base's dtype.
func (d DTypes) Path(dir, base string) string {
	return filepath.Join(dir, "onnx", base+DTypeSuffix[d.Of(base)]+".onnx")
}

// Check reports per-file entries naming none of the model's files.
func (d DTypes) Check(files ...string) error {
	for f := range d.PerFile {
		found := false
		for _, b := range files {
			found = found || b == f
		}
		if !found {
			return fmt.Errorf("models: dtype for %q: the model's files are %s", f, strings.Join(files, ", "))
		}
	}
	return nil
}

// ConfigDTypes reads config.json's "transformers.js_config".dtype (a string
// or an object keyed by file base name), the model's own default, as
// transformers.js does when no dtype is given.
func ConfigDTypes(config []byte) (DTypes, error) {
	var c struct {
		TJS struct {
			DType json.RawMessage `json:"dtype"`
		} `json:"transformers.js_config"`
	}
	if err := json.Unmarshal(config, &c); err != nil || len(c.TJS.DType) == 0 {
		return DTypes{}, nil
	}
	var s string
	if json.Unmarshal(c.TJS.DType, &s) == nil {
		if s == "auto" {
			return DTypes{}, nil
		}
		if err := checkDType(s); err != nil {
			return DTypes{}, fmt.Errorf("%w (config.json transformers.js_config.dtype)", err)
		}
		return DTypes{Default: s}, nil
	}
	var m map[string]string
	if err := json.Unmarshal(c.TJS.DType, &m); err != nil {
		return DTypes{}, fmt.Errorf("models: config.json transformers.js_config.dtype: %w", err)
	}
	d := DTypes{PerFile: map[string]string{}}
	for k, v := range m {
		if v == "auto" {
			continue
		}
		if err := checkDType(v); err != nil {
			return DTypes{}, fmt.Errorf("%w (config.json transformers.js_config.dtype.%s)", err, k)
		}
		d.PerFile[k] = v
	}
	return d, nil
}

// Resolve returns the dtypes to use: the user's when given (their per-file
// entries over their default), else the config's.
func (d DTypes) Resolve(config []byte) (DTypes, error) {
	if !d.IsZero() || d.Auto {
		return d, nil
	}
	return ConfigDTypes(config)
}
