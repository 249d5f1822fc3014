package models

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// ErrModelNotFound is returned (wrapped) when a model id is in no local
// cache.
var ErrModelNotFound = errors.New("model not found locally")

var repoID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$`)

// ResolveID turns --model into a folder, offline. An existing folder, or
// anything that is not an "org/name" id, is returned as is. A Hugging Face id ("org/name") is looked up in vlmrun's
// download folder ($VLMRUN_MODELS, else ~/.cache/vlmrun: <dir>/<name>, as
// scripts/download-models.sh writes it) and then in the Hugging Face hub
// cache ($HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub:
// models--org--name/snapshots/<rev>, the revision refs/main names, else the
// newest snapshot). A folder counts when it has config.json. When none is
// found, the error lists every place tried and the download commands.
func ResolveID(arg string) (string, error) {
	if st, err := os.Stat(arg); err == nil && st.IsDir() {
		return arg, nil
	}
	if !repoID.MatchString(arg) || strings.Contains(arg, "..") {
		return arg, nil // not an id: a folder path, which Load reports on
	}
	org, name, _ := strings.Cut(arg, "/")
	home, _ := os.UserHomeDir()
	var tried []string
	has := func(dir string) bool {
		tried = append(tried, dir)
		st, err := os.Stat(filepath.Join(dir, "config.json"))
		return err == nil && !st.IsDir()
	}
	own := os.Getenv("VLMRUN_MODELS")
	if own == "" && home != "" {
		own = filepath.Join(home, ".cache", "vlmrun")
	}
	if own != "" && has(filepath.Join(own, name)) {
		return filepath.Join(own, name), nil
	}
	hub := os.Getenv("HF_HUB_CACHE")
	if hub == "" {
		if h := os.Getenv("HF_HOME"); h != "" {
			hub = filepath.Join(h, "hub")
		} else if home != "" {
			hub = filepath.Join(home, ".cache", "huggingface", "hub")
		}
	}
	if hub != "" {
		repo := filepath.Join(hub, "models--"+org+"--"+name)
		var revs []string
		if ref, err := os.ReadFile(filepath.Join(repo, "refs", "main")); err == nil {
			revs = append(revs, strings.TrimSpace(string(ref)))
		}
		snaps, _ := os.ReadDir(filepath.Join(repo, "snapshots"))
		sort.Slice(snaps, func(i, j int) bool {
			a, _ := snaps[i].Info()
			b, _ := snaps[j].Info()
			return a != nil && b != nil && a.ModTime().After(b.ModTime())
		})
		for _, s := range snaps {
			revs = append(revs, s.Name())
		}
		for _, r := range revs {
			if r == "" || strings.ContainsAny(r, `/\`) || r == ".." {
				continue
			}
			if d := filepath.Join(repo, "snapshots", r); has(d) {
				return d, nil
			}
		}
		if len(revs) == 0 {
			tried = append(tried, filepath.Join(repo, "snapshots", "*"))
		}
	}
	return "", fmt.Errorf("models: %s is not downloaded (looked in %s); download it with "+
		"scripts/download-models.sh, or `huggingface-cli download %s` (onnx/ files included): %w",
		arg, strings.Join(tried, ", "), arg, ErrModelNotFound)
}
