package chattemplate

import (
	"sync"
	"testing"
)

// TestConcurrentApply: one Chat serves concurrent renderings (run with -race).
func TestConcurrentApply(t *testing.T) {
	c, err := FromTokenizerConfig([]byte(`{"bos_token": "<s>", "chat_template": "{% set ns = namespace(n=0) %}{% macro m(x) %}[{{ x }}]{% endmacro %}{{ bos_token }}{% for msg in messages %}{% set ns.n = ns.n + 1 %}{{ m(msg.content) }}{% endfor %}{{ ns.n }}"}`))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				got, err := c.Apply([]Message{{Role: "user", Content: "a"}, {Role: "assistant", Content: "b"}}, Options{})
				if err != nil || got != "<s>[a][b]2" {
					t.Errorf("%q %v", got, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
