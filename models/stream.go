package models

// StreamPrompt is a family's prompt for a video whose frames arrive over
// time (vlmrun caption --stream-video), in pieces that are tokenized on
// their own and concatenated: Prefix, then one Frame block per frame in
// order, then Suffix with the question. Each piece is fixed once
// tokenized, so the cached keys and values of the prefix and the frames
// seen so far stay valid as frames are added; a one-shot prompt over the
// same frames is the same concatenation.
type StreamPrompt struct {
	// Prefix is the ids before the first frame.
	Prefix []int
	// Frame returns the ids of one frame at t seconds: the family's image
	// block with nVisual image-token ids (Spec.ImageTokenID) for its visual
	// tokens, in order.
	Frame func(t float64, nVisual int) ([]int, error)
	// Suffix returns the ids after the last frame: the question (empty: the
	// family's default) and the start of the answer.
	Suffix func(question string) ([]int, error)
}
