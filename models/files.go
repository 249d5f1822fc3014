package models

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// ResolveFiles picks the dtype of each of a family's ONNX files (bases, e.g.
// vision_encoder, embed_tokens, decoder_model_merged) as transformers.js
// does: the user's choice, else config.json's transformers.js_config.dtype,
// else fp32; --dtype auto chooses per file (DTypes.Auto). It refuses per-file choices naming none of bases and checks
// that every chosen file exists (RequireVariant). family prefixes errors.
func ResolveFiles(family, dir string, config []byte, o LoadOptions, bases ...string) (DTypes, error) {
	dt, err := o.DTypes.Resolve(config)
	if err != nil {
		return dt, fmt.Errorf("%s: %s: %w", family, dir, err)
	}
	if err := dt.Check(bases...); err != nil {
		return dt, fmt.Errorf("%s: %s: %w", family, dir, err)
	}
	dt = dt.resolveAuto(dir, bases)
	for _, base := range bases {
		if err := RequireVariant(family, dir, base, dt); err != nil {
			return dt, err
		}
	}
	return dt, nil
}

// RequireVariant checks that base's file for the chosen dtype exists and
// otherwise names it and the dtypes the folder does have.
func RequireVariant(family, dir, base string, dt DTypes) error {
	p := dt.Path(dir, base)
	if st, err := os.Stat(p); err == nil && !st.IsDir() {
		return nil
	}
	var have []string
	for d, sfx := range DTypeSuffix {
		if st, err := os.Stat(filepath.Join(dir, "onnx", base+sfx+".onnx")); err == nil && !st.IsDir() {
			have = append(have, d)
		}
	}
	sort.Strings(have)
	avail := "none"
	if len(have) > 0 {
		avail = strings.Join(have, ", ")
	}
	return fmt.Errorf("%s: dtype %s: model file %s is missing (dtypes present for %s: %s)",
		family, dt.Of(base), p, base, avail)
}
