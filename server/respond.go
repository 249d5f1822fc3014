package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/vlmrun/vlmrun/pipeline"
)

// completion writes one chat completion: a JSON object at the end, or
// server-sent events as text is generated ("stream": true).
type completion struct {
	s        *Server
	w        http.ResponseWriter
	flusher  http.Flusher
	job      *chatJob
	ctx      context.Context
	id       string
	created  int64
	stop     stopper
	text     strings.Builder // the content passed on so far
	pieces   int
	stopped  bool  // a stop sequence ended generation
	started  bool  // the event stream's headers are written
	writeErr error // a write to the client failed
}

// piece is the pipeline's stream callback: it applies the stop sequences
// and, when streaming, sends the text as a chunk.
func (c *completion) piece(p string) error {
	if h := c.s.tokenHook; h != nil {
		h(c.ctx, c.pieces)
	}
	c.pieces++
	out, hit := c.stop.push(p)
	if out != "" {
		if err := c.emit(out); err != nil {
			return err
		}
	}
	if hit {
		c.stopped = true
		return pipeline.ErrStop
	}
	return nil
}

// emit records content and, when streaming, sends it.
func (c *completion) emit(text string) error {
	c.text.WriteString(text)
	if !c.job.stream {
		return nil
	}
	return c.chunk(chatChunk{Choices: []chatChoice{{Delta: &assistantMsg{Content: &text}}}})
}

// chunk sends one event, writing the stream's headers and the role chunk
// first.
func (c *completion) chunk(ch chatChunk) error {
	if c.writeErr != nil {
		return c.writeErr
	}
	if !c.started {
		c.started = true
		h := c.w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Accel-Buffering", "no")
		c.w.WriteHeader(http.StatusOK)
		empty := ""
		if err := c.chunk(chatChunk{Choices: []chatChoice{{Delta: &assistantMsg{Role: "assistant", Content: &empty}}}}); err != nil {
			return err
		}
	}
	ch.ID, ch.Object, ch.Created, ch.Model = c.id, "chat.completion.chunk", c.created, c.s.cfg.ModelName
	if ch.Choices == nil {
		ch.Choices = []chatChoice{}
	}
	data, err := json.Marshal(ch)
	if err != nil {
		return fmt.Errorf("server: encode chunk: %w", err)
	}
	return c.event(data)
}

// event writes one "data:" event and flushes it.
func (c *completion) event(data []byte) error {
	if _, err := fmt.Fprintf(c.w, "data: %s\n\n", data); err != nil {
		c.writeErr = fmt.Errorf("server: write event: %w", err)
		return c.writeErr
	}
	if c.flusher != nil {
		c.flusher.Flush()
	}
	return nil
}

// finish sends the end of the completion: the final chunk (and a usage
// chunk when asked) then [DONE], or the whole JSON response.
func (c *completion) finish(reason string, u usage, rep *report) {
	if !c.job.stream {
		content := c.text.String()
		writeJSON(c.w, http.StatusOK, chatResponse{ID: c.id, Object: "chat.completion", Created: c.created,
			Model: c.s.cfg.ModelName, Usage: u, VLMRun: rep,
			Choices: []chatChoice{{Message: &assistantMsg{Role: "assistant", Content: &content},
				FinishReason: &reason, Logprobs: json.RawMessage("null")}}})
		return
	}
	last := chatChunk{Choices: []chatChoice{{Delta: &assistantMsg{}, FinishReason: &reason}}, VLMRun: rep}
	if c.chunk(last) != nil {
		return
	}
	if c.job.includeUsage && c.chunk(chatChunk{Choices: []chatChoice{}, Usage: &u}) != nil {
		return
	}
	c.event([]byte("[DONE]"))
}

// fail reports an error: as a JSON response with its status when nothing
// was sent yet, else as an error event that ends the stream.
func (c *completion) fail(e *apiError) {
	if !c.started {
		writeError(c.w, e)
		return
	}
	data, err := json.Marshal(errorBody{e})
	if err == nil {
		c.event(data)
	}
}
