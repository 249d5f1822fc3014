package server

import (
	"bytes"
	"context"
	"errors"
	"image"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "image/gif" // header checks for every format the encoder reads
	_ "image/jpeg"
	_ "image/png"

	_ "golang.org/x/image/bmp"
	_ "golang.org/x/image/webp"

	"github.com/vlmrun/vlmrun/encoder"
)

// mediaKind names what a reference is for errors (image or video, and its
// content part) and bounds its size in bytes.
type mediaKind struct {
	noun, part string
	limit      int64
}

func (s *Server) imageKind() mediaKind { return mediaKind{"image", "image_url", s.lim.MaxImageBytes} }
func (s *Server) videoKind() mediaKind { return mediaKind{"video", "video_url", s.lim.MaxVideoBytes} }

// load returns the bytes of an image reference, reading a local file
// inside the allowed media folder or fetching a remote URL when allowed.
func (s *Server) load(ctx context.Context, ref imageRef) ([]byte, *apiError) {
	return s.loadAs(ctx, ref, s.imageKind())
}

// loadAs is load for a reference of kind k.
func (s *Server) loadAs(ctx context.Context, ref imageRef, k mediaKind) ([]byte, *apiError) {
	switch {
	case ref.data != nil:
		return ref.data, nil
	case ref.url != "":
		return s.fetch(ctx, ref.url, k)
	default:
		return s.readLocal(ref.path, k)
	}
}

// readLocal reads a file under AllowedMediaDir. Paths are taken relative
// to that folder unless absolute; os.Root refuses "..", and symbolic links
// that leave the folder.
func (s *Server) readLocal(path string, k mediaKind) ([]byte, *apiError) {
	dir := s.cfg.AllowedMediaDir
	if dir == "" {
		return nil, newError(http.StatusForbidden, "local_images_disabled", "messages",
			"%s %q is a local path, and local files are disabled (start the server with --allowed-media-dir)", k.part, clip(path, 64))
	}
	rel := path
	if filepath.IsAbs(path) {
		r, err := filepath.Rel(dir, path)
		if err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
			return nil, newError(http.StatusForbidden, "path_not_allowed", "messages",
				"%s path %q is outside the allowed media folder", k.noun, clip(path, 64))
		}
		rel = r
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, newError(http.StatusInternalServerError, "media_dir", "", "open the media folder: %v", err)
	}
	defer root.Close()
	f, err := root.Open(rel)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, badRequest(k.noun+"_not_found", "messages", "%s file %q not found in the allowed media folder", k.noun, clip(path, 64))
		}
		return nil, newError(http.StatusForbidden, "path_not_allowed", "messages", "%s path %q: %v", k.noun, clip(path, 64), err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return nil, badRequest("invalid_"+k.part, "messages", "%s path %q is not a regular file", k.noun, clip(path, 64))
	}
	if st.Size() > k.limit {
		return nil, newError(http.StatusRequestEntityTooLarge, k.noun+"_too_large", "messages",
			"%s file %q has %d bytes; the limit is %d", k.noun, clip(path, 64), st.Size(), k.limit)
	}
	data, err := io.ReadAll(io.LimitReader(f, k.limit+1))
	if err != nil {
		return nil, badRequest("invalid_"+k.part, "messages", "read %s file %q: %v", k.noun, clip(path, 64), err)
	}
	return data, nil
}

// fetch downloads a remote image (or video) when AllowRemoteImages is set.
func (s *Server) fetch(ctx context.Context, url string, k mediaKind) ([]byte, *apiError) {
	if !s.cfg.AllowRemoteImages {
		return nil, newError(http.StatusForbidden, "remote_images_disabled", "messages",
			"%s is a remote URL, and remote media are disabled (start the server with --allow-remote-images)", k.part)
	}
	timeout := s.cfg.RemoteTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, badRequest("invalid_"+k.part, "messages", "%s url: %v", k.noun, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, badRequest(k.noun+"_fetch_failed", "messages", "fetch %s: %v", k.noun, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, badRequest(k.noun+"_fetch_failed", "messages", "fetch %s: %s", k.noun, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, k.limit+1))
	if err != nil {
		return nil, badRequest(k.noun+"_fetch_failed", "messages", "fetch %s: %v", k.noun, err)
	}
	if int64(len(data)) > k.limit {
		return nil, newError(http.StatusRequestEntityTooLarge, k.noun+"_too_large", "messages",
			"the remote %s is larger than the limit of %d bytes", k.noun, k.limit)
	}
	return data, nil
}

// checkHeader refuses, from the header alone, data that is no image format
// the encoder reads or an image over the pixel limit. Other header errors
// are left to the decoder, whose messages are more precise.
func checkHeader(data []byte, maxPixels int64) *apiError {
	cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
	if errors.Is(err, image.ErrFormat) {
		return badRequest("invalid_image", "messages", "the image is not an image (supported: jpeg, png, gif, bmp, webp)")
	}
	if err != nil {
		return nil
	}
	if px := int64(cfg.Width) * int64(cfg.Height); px > maxPixels {
		return newError(http.StatusRequestEntityTooLarge, "image_too_large", "messages",
			"the image is %d×%d (%s), above the %s limit", cfg.Width, cfg.Height, encoder.Megapixels(px), encoder.Megapixels(maxPixels))
	}
	return nil
}
