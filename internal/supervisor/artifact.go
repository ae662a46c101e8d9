package supervisor

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"time"
)

// artifactCache remembers stored artifacts whose digest was checked, so a
// restart or a scale-out does not hash a large model again. An entry holds
// as long as the file's identity, size and times are unchanged; any write
// changes its ctime, which no one can set back.
type artifactCache struct {
	mu       sync.Mutex
	verified map[string]fileStamp
}

type fileStamp struct {
	dev, ino     uint64
	size         int64
	mtime, ctime time.Time
}

func stampOf(fi os.FileInfo) fileStamp {
	st := fileStamp{size: fi.Size(), mtime: fi.ModTime()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.dev, st.ino = sys.Dev, sys.Ino
		st.ctime = time.Unix(sys.Ctim.Sec, sys.Ctim.Nsec)
	}
	return st
}

// check makes sure the artifact at path still has the digest it was
// registered with. A stored copy changed on disk, by a bad block or by
// hand, would otherwise be served as if it were the registered version, or
// crash its loader with a puzzling error.
func (c *artifactCache) check(path, digest string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("the stored artifact cannot be read: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("the stored artifact cannot be read: %w", err)
	}
	stamp := stampOf(fi)
	c.mu.Lock()
	ok := c.verified[path] == stamp
	c.mu.Unlock()
	if ok {
		return nil
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("reading the stored artifact %s: %w", path, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != digest {
		return fmt.Errorf("the stored artifact %s has sha256 %s, not the registered %s: it was changed on disk after registration; register the version again from its source", path, got, digest)
	}
	c.mu.Lock()
	if c.verified == nil {
		c.verified = map[string]fileStamp{}
	}
	c.verified[path] = stamp
	c.mu.Unlock()
	return nil
}
