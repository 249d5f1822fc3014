package server

import (
	"bytes"
	"io"
	"net/http"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vlmrun/vlmrun/internal/testenv"
)

// Memory stays bounded over 500 requests from 16 clients (streaming and
// not, with some bad ones): RSS after is within 48 MiB of RSS after a
// warm-up, and no goroutines are left behind. -short runs 100.
func TestMemoryBounded(t *testing.T) {
	_, url := testServer(t, Config{Queue: 32})
	n := 500
	if testing.Short() {
		n = 100
	}
	imgs := [][]byte{scenePNG(t, 7400, 0, 96), scenePNG(t, 7400, 1, 160), scenePNG(t, 7400, 2, 300)}
	bodies := make([][]byte, 0, 8)
	for _, img := range imgs {
		bodies = append(bodies, chatBody(t, img, map[string]any{"max_tokens": 8}),
			chatBody(t, img, map[string]any{"max_tokens": 8, "stream": true}))
	}
	bodies = append(bodies, []byte(`{"messages": [`), chatBody(t, imgs[0][:100], nil))
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	var failed atomic.Int32
	run := func(total int) {
		var next atomic.Int32
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() {
				for {
					i := int(next.Add(1)) - 1
					if i >= total {
						return
					}
					resp, err := client.Post(url+"/v1/chat/completions", "application/json", bytes.NewReader(bodies[i%len(bodies)]))
					if err != nil {
						failed.Add(1)
						continue
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode >= 500 || resp.StatusCode == 429 {
						failed.Add(1)
					}
				}
			})
		}
		wg.Wait()
	}
	run(50) // warm-up: pools, buffers, ORT arenas
	runtime.GC()
	before, g0 := residentBytes(), runtime.NumGoroutine()
	start := time.Now()
	run(n)
	el := time.Since(start)
	client.CloseIdleConnections()
	runtime.GC()
	after := residentBytes()
	t.Logf("%d requests (16 clients) in %.1f s: RSS before %.1f MiB, after %.1f MiB (%+.1f MiB); goroutines %d -> %d",
		n, el.Seconds(), mib(before), mib(after), mib(after-before), g0, runtime.NumGoroutine())
	if failed.Load() > 0 {
		t.Errorf("%d requests failed with 5xx/429 or a transport error", failed.Load())
	}
	if after-before > 48<<20 {
		t.Errorf("RSS grew by %.1f MiB over %d requests", mib(after-before), n)
	}
	waitFor(t, "goroutines to settle", func() bool { return runtime.NumGoroutine() <= g0+2 })
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// BenchmarkServe measures requests per second and latency percentiles with
// 1, 4 and 16 concurrent clients on the pool's two replicas, captioning a
// 300×300 PNG (scene-0.png) with the default, greedy, settings:
//
//	go test ./server -run '^$' -bench Serve -benchtime 200x
func BenchmarkServe(b *testing.B) {
	_, url := testServer(b, Config{Queue: 64})
	body := chatBody(b, readFile(b, filepath.Join(testenv.Repo(b), "examples", "scene-0.png")), nil)
	for _, clients := range []int{1, 4, 16} {
		b.Run("clients="+strconv.Itoa(clients), func(b *testing.B) {
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
			lat := make([]time.Duration, b.N)
			var next atomic.Int32
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for range clients {
				wg.Go(func() {
					for {
						i := int(next.Add(1)) - 1
						if i >= b.N {
							return
						}
						t0 := time.Now()
						resp, err := client.Post(url+"/v1/chat/completions", "application/json", bytes.NewReader(body))
						if err != nil {
							b.Error(err)
							return
						}
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode != 200 {
							b.Errorf("status %d", resp.StatusCode)
						}
						lat[i] = time.Since(t0)
					}
				})
			}
			wg.Wait()
			el := time.Since(start)
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(b.N)/el.Seconds(), "req/s")
			b.ReportMetric(float64(lat[b.N/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[min(b.N-1, b.N*99/100)].Microseconds())/1000, "p99-ms")
			client.CloseIdleConnections()
		})
	}
}
