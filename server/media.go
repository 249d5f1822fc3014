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

// load returns the bytes of an image reference, reading a local file
// inside the allowed media folder or fetching a remote URL when allowed.
func (s *Server) load(ctx context.Context, ref imageRef) ([]byte, *apiError) {
	switch {
	case ref.data != nil:
		return ref.data, nil
	case ref.url != "":
		return s.fetch(ctx, ref.url)
	default:
		return s.readLocal(ref.path)
	}
}

// readLocal reads a file under AllowedMediaDir. Paths are taken relative
// to that folder unless absolute; os.Root refuses "..", and symbolic links
// that leave the folder.
func (s *Server) readLocal(path string) ([]byte, *apiError) {
	dir := s.cfg.AllowedMediaDir
	if dir == "" {
		return nil, newError(http.StatusForbidden, "local_images_disabled", "messages",
			"image_url %q is a local path, and local files are disabled (start the server with --allowed-media-dir)", clip(path, 64))
	}
	rel := path
	if filepath.IsAbs(path) {
		r, err := filepath.Rel(dir, path)
		if err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
			return nil, newError(http.StatusForbidden, "path_not_allowed", "messages",
				"image path %q is outside the allowed media folder", clip(path, 64))
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
			return nil, badRequest("image_not_found", "messages", "image file %q not found in the allowed media folder", clip(path, 64))
		}
		return nil, newError(http.StatusForbidden, "path_not_allowed", "messages", "image path %q: %v", clip(path, 64), err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return nil, badRequest("invalid_image_url", "messages", "image path %q is not a regular file", clip(path, 64))
	}
	if st.Size() > s.lim.MaxImageBytes {
		return nil, newError(http.StatusRequestEntityTooLarge, "image_too_large", "messages",
			"image file %q has %d bytes; the limit is %d", clip(path, 64), st.Size(), s.lim.MaxImageBytes)
	}
	data, err := io.ReadAll(io.LimitReader(f, s.lim.MaxImageBytes+1))
	if err != nil {
		return nil, badRequest("invalid_image_url", "messages", "read image file %q: %v", clip(path, 64), err)
	}
	return data, nil
}

// fetch downloads a remote image when AllowRemoteImages is set.
func (s *Server) fetch(ctx context.Context, url string) ([]byte, *apiError) {
	if !s.cfg.AllowRemoteImages {
		return nil, newError(http.StatusForbidden, "remote_images_disabled", "messages",
			"image_url is a remote URL, and remote images are disabled (start the server with --allow-remote-images)")
	}
	timeout := s.cfg.RemoteTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, badRequest("invalid_image_url", "messages", "image url: %v", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, badRequest("image_fetch_failed", "messages", "fetch image: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, badRequest("image_fetch_failed", "messages", "fetch image: %s", resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, s.lim.MaxImageBytes+1))
	if err != nil {
		return nil, badRequest("image_fetch_failed", "messages", "fetch image: %v", err)
	}
	if int64(len(data)) > s.lim.MaxImageBytes {
		return nil, newError(http.StatusRequestEntityTooLarge, "image_too_large", "messages",
			"the remote image is larger than the limit of %d bytes", s.lim.MaxImageBytes)
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
