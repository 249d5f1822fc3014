package main

// The LLaVA family (model_type llava), registered like the families in
// flags.go.
import _ "github.com/vlmrun/vlmrun/models/llava"
