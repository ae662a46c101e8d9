package supervisor

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A stored artifact is checked against its registered digest before a
// replica starts; a change on disk, even one that keeps the size and the
// modification time, is caught.
func TestArtifactCheck(t *testing.T) {
	path := filepath.Join(t.TempDir(), "model")
	good := []byte("the registered weights")
	if err := os.WriteFile(path, good, 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(good)
	digest := hex.EncodeToString(sum[:])
	var c artifactCache
	for range 2 { // the second check is answered from the cache
		if err := c.check(path, digest); err != nil {
			t.Fatalf("check of the registered bytes: %v", err)
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("the swapped-in weights"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	err = c.check(path, digest)
	if err == nil || !strings.Contains(err.Error(), "not the registered "+digest+": it was changed on disk") {
		t.Errorf("check after the file changed (same size and mtime): %v; want it to say the artifact changed", err)
	}
	if err := c.check(filepath.Join(t.TempDir(), "gone"), digest); err == nil || !strings.Contains(err.Error(), "cannot be read") {
		t.Errorf("check of a missing file: %v", err)
	}
}
