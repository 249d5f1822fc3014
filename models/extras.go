package models

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/vlmrun/vlmrun/encoder"
)

// ExtrasFunc tells, from a model folder and its config.json, how vlmrun
// may instrument the folder's vision graph for the pruning extras it does
// not output itself (encoder.OpenInstrumented): which attention score,
// from which encoder layer, and how the extras' rows map to the features.
// An error says why this folder's graph cannot be instrumented.
type ExtrasFunc func(dir string, config []byte) (encoder.Instrument, error)

// ErrNoExtras is returned (wrapped) for a family that registered no
// ExtrasFunc.
var ErrNoExtras = errors.New("the family does not say how to instrument its vision graph")

var (
	extrasMu sync.RWMutex
	extras   = map[string]ExtrasFunc{}
)

// RegisterExtras makes f the instrumentation rule of the given model types.
func RegisterExtras(f ExtrasFunc, modelTypes ...string) {
	extrasMu.Lock()
	defer extrasMu.Unlock()
	for _, t := range modelTypes {
		extras[t] = f
	}
}

// VisionExtras returns how to instrument spec's vision graph for the
// pruning extras.
func VisionExtras(spec *Spec) (encoder.Instrument, error) {
	extrasMu.RLock()
	f := extras[spec.Family]
	extrasMu.RUnlock()
	if f == nil {
		return encoder.Instrument{}, fmt.Errorf("models: %s (%s): %w", spec.Dir, spec.Family, ErrNoExtras)
	}
	p := filepath.Join(spec.Dir, "config.json")
	raw, err := os.ReadFile(p)
	if err != nil {
		return encoder.Instrument{}, fmt.Errorf("models: read %s: %w", p, err)
	}
	return f(spec.Dir, raw)
}
