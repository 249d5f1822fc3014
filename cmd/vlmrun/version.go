package main

import (
	"context"
	"fmt"
	"io"
	"runtime"

	"github.com/spf13/pflag"

	"github.com/vlmrun/vlmrun/internal/ortx"
)

func cmdVersion(_ context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("version", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	lib := fs.String("ort-lib", "", "path to libonnxruntime.so.1")
	if err := fs.Parse(args); err != nil {
		if err == pflag.ErrHelp {
			return 0
		}
		return 2
	}
	fmt.Fprintf(stdout, "vlmrun %s (%s, %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	path, err := ortx.Setup(*lib)
	if err != nil {
		fmt.Fprintf(stderr, "vlmrun version: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "onnxruntime %s\nlibrary %s\n", ortx.Version(), path)
	return 0
}
