package ortx

import (
	"strings"
	"testing"
)

// ParseTuning on any string: one error, or settings whose String form
// parses back to the same settings.
func FuzzParseTuning(f *testing.F) {
	for _, s := range []string{"", "default", "opt=all,spin=off", "arena=on, mem-pattern=off,prepack=on",
		"session.x=1,opt=basic", "opt=", "=", ",", "spin=on,spin=off", "a.b=c=d", "x.y=\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tu, err := ParseTuning(s)
		if err != nil {
			if err.Error() == "" || !strings.HasPrefix(err.Error(), "ortx: ") {
				t.Fatalf("%q: unclear error %q", s, err)
			}
			return
		}
		canon := tu.String()
		back, err := ParseTuning(canon)
		if err != nil {
			t.Fatalf("%q: its String %q does not parse: %v", s, canon, err)
		}
		if back.String() != canon {
			t.Fatalf("%q: %q parses back as %q", s, canon, back.String())
		}
	})
}
