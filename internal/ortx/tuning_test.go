package ortx

import (
	"strings"
	"testing"
)

func TestParseTuning(t *testing.T) {
	tests := []struct {
		in   string
		want string // canonical String(); "" when an error is wanted
		err  string
	}{
		{in: "", want: "default"},
		{in: "default", want: "default"},
		{in: "opt=basic", want: "opt=basic"},
		{in: " arena=off , opt=all ", want: "opt=all,arena=off"},
		{in: "prepack=off,spin=off,mem-pattern=on", want: "spin=off,mem-pattern=on,prepack=off"},
		{in: "session.z=1,session.a=2", want: "session.a=2,session.z=1"},
		{in: "opt=fast", err: "want disable, basic, extended or all"},
		{in: "spin=no", err: "want on or off"},
		{in: "arena", err: "want KEY=VALUE"},
		{in: "arena=", err: "want KEY=VALUE"},
		{in: "threads=2", err: "unknown session option"},
		{in: "opt=basic,opt=all", err: "given twice"},
		{in: "arena=on,,prepack=off", err: "want KEY=VALUE"},
	}
	for _, tc := range tests {
		got, err := ParseTuning(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseTuning(%q) error %v, want one containing %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseTuning(%q): %v", tc.in, err)
			continue
		}
		if s := got.String(); s != tc.want {
			t.Errorf("ParseTuning(%q).String() = %q, want %q", tc.in, s, tc.want)
		}
		back, err := ParseTuning(got.String())
		if err != nil || back.String() != got.String() {
			t.Errorf("round trip of %q: %q, %v", got.String(), back.String(), err)
		}
	}
}

func TestTuningFromEnv(t *testing.T) {
	t.Setenv(TuningEnv, "prepack=off")
	tu, err := TuningFromEnv()
	if err != nil || tu.Prepack != Off {
		t.Fatalf("TuningFromEnv = %+v, %v; want prepack off", tu, err)
	}
	t.Setenv(TuningEnv, "prepack=maybe")
	if _, err := TuningFromEnv(); err == nil || !strings.Contains(err.Error(), TuningEnv) {
		t.Fatalf("bad $%s: error %v, want one naming the variable", TuningEnv, err)
	}
}

// TestTuningApplied checks that the session options ORT receives hold the
// config entries each setting stands for.
func TestTuningApplied(t *testing.T) {
	if _, err := Setup(""); err != nil {
		t.Skipf("no ONNX Runtime library: %v", err)
	}
	tu, err := ParseTuning("opt=basic,spin=off,arena=off,mem-pattern=off,prepack=off,session.force_spinning_stop=1")
	if err != nil {
		t.Fatal(err)
	}
	so, err := newOptions(Options{Tune: tu})
	if err != nil {
		t.Fatal(err)
	}
	defer so.Destroy()
	for k, want := range map[string]string{
		"session.intra_op.allow_spinning": "0",
		"session.inter_op.allow_spinning": "0",
		"session.disable_prepacking":      "1",
		"session.force_spinning_stop":     "1",
	} {
		got, err := so.GetSessionConfigEntry(k)
		if err != nil || got != want {
			t.Errorf("config %s = %q, %v; want %q", k, got, err, want)
		}
	}
	if _, err := newOptions(Options{Tune: Tuning{Opt: "fast"}}); err == nil {
		t.Error("an unknown optimization level was accepted")
	}
}
