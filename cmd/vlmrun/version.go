package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"strings"

	"github.com/spf13/pflag"

	"github.com/vlmrun/vlmrun/internal/ortx"
	"github.com/vlmrun/vlmrun/models"
)

func cmdVersion(_ context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := newFlagSet("version", stderr, func(*pflag.FlagSet) {
		fmt.Fprintln(stderr, "usage: vlmrun version [--ort-lib PATH]")
	})
	lib := fs.String("ort-lib", "", "path to libonnxruntime.so.1")
	if code, done := parseCommand(fs, args); done {
		return code
	}
	if fs.NArg() > 0 {
		return exitCode(stderr, "version", usagef("unexpected argument %q", fs.Arg(0)))
	}
	fmt.Fprintf(stdout, "vlmrun %s (%s, %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	path, err := ortx.Setup(*lib)
	if err != nil {
		fmt.Fprintf(stderr, "vlmrun version: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "onnxruntime %s\nlibrary %s\n", ortx.Version(), path)
	class, units := models.CPUClass()
	if len(units) == 0 {
		units = []string{"none"}
	}
	fmt.Fprintf(stdout, "cpu class %s (int8 dot-product units: %s); --dtype auto prefers, per file role:\n", class, strings.Join(units, ", "))
	for _, role := range []string{"vision", "encoder", "embed", "decoder"} {
		fmt.Fprintf(stdout, "  %-8s %s\n", role, strings.Join(models.AutoOrder[class][role], " > "))
	}
	return 0
}
