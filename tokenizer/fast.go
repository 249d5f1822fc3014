package tokenizer

// fastFinder returns a hand-written matcher for a known split pattern, or
// nil.
func fastFinder(pattern string) finder {
	return nil
}
