package pipeline

import (
	"fmt"

	"github.com/vlmrun/vlmrun/pruning"
)

// PruneSpec is a pruning choice as a user writes it: a method
// specification in pruning.Parse syntax ("divprune", "fastv:k=2"; "" or
// "none" for no pruning) and a budget in pruning.ParseBudget syntax ("0.25",
// "25%", "64"; "" for the method's default). The CLI's --prune/--keep and
// the server's "vlmrun" request extension both go through Apply, so the
// same words mean the same pruning everywhere.
type PruneSpec struct {
	Method string
	Keep   string
	// MethodName and KeepName name the two settings in error messages
	// ("--prune" and "--keep" on the command line); empty means "prune"
	// and "keep".
	MethodName, KeepName string
}

// Apply sets req's pruning (Pre and Keep, In, or all three for a
// combination "PRE+IN", where Keep is the pre-decoder stage's) from the
// spec. It returns an error for an unknown method or parameter, a bad
// budget, a budget without a method, or a budget given to an in-decoder
// method that sets its counts with its own parameters.
func (s PruneSpec) Apply(req *Request) error {
	mName, kName := s.MethodName, s.KeepName
	if mName == "" {
		mName = "prune"
	}
	if kName == "" {
		kName = "keep"
	}
	spec := s.Method
	if spec == "" {
		spec = "none"
	}
	m, err := pruning.Parse(spec)
	if err != nil {
		return err
	}
	b, err := s.budget(m.Info.DefaultKeep, kName)
	if err != nil {
		return err
	}
	switch {
	case m.Pre != nil:
		if m.Info.Name == "none" {
			if s.Keep != "" && s.Keep != "1" && s.Keep != "1.0" && s.Keep != "100%" {
				return fmt.Errorf("%s %s needs a %s method", kName, s.Keep, mName)
			}
			return nil
		}
		req.Pre, req.Keep = m.Pre, b
		req.In = m.In // a combination's in-decoder stage ("dycoke+dycoke-kv"), with its own parameters
	case m.In != nil:
		req.In = m.In
		if bm, ok := m.In.(pruning.Budgeted); ok && !b.IsZero() {
			if req.In, err = bm.WithBudget(b); err != nil {
				return err
			}
		} else if s.Keep != "" {
			return fmt.Errorf("%s sets its counts with its own parameters; %s does not apply", m.Info.Name, kName)
		}
	}
	return nil
}

// budget returns the Keep budget, or def (the method's default) when Keep
// is empty; the zero Budget when both are empty.
func (s PruneSpec) budget(def, kName string) (pruning.Budget, error) {
	v := s.Keep
	if v == "" {
		v = def
	}
	if v == "" {
		return pruning.Budget{}, nil
	}
	b, err := pruning.ParseBudget(v)
	if err != nil {
		return b, fmt.Errorf("bad %s: %w", kName, err)
	}
	return b, nil
}
