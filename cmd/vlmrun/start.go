package main

import "time"

// processStart is set when the package initializes, milliseconds after
// the process started.
var processStart = time.Now()

// sinceStart is the time since processStart in milliseconds.
func sinceStart() float64 { return float64(time.Since(processStart).Microseconds()) / 1000 }
