package main

// The Qwen2-VL family (model_type qwen2_vl), registered like the families in
// flags.go.
import _ "github.com/vlmrun/vlmrun/models/qwen2vl"
