package main

// The LLaVA-OneVision family (model_type llava_onevision), registered like
// the families in flags.go.
import _ "github.com/vlmrun/vlmrun/models/llavaonevision"
