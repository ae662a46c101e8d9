// Package sqlite implements store.Store on an embedded SQLite database
// (modernc.org/sqlite, no cgo). It is the default store: one file, no server.
//
// Writes go through a single connection that begins with BEGIN IMMEDIATE, so
// Update transactions run one at a time inside the process and take SQLite's
// write lock up front, waiting (busy_timeout) rather than failing when
// another process, such as an offline `slipway tokens create`, holds it.
// Reads use a separate pool and, thanks to WAL, never wait for the writer.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// busyTimeout is how long a writer waits for another process's write lock.
const busyTimeout = 10 * time.Second

// readIdleConns is how many read connections stay open between reads.
const readIdleConns = 16

// DB is a SQLite-backed store.Store.
type DB struct {
	path  string
	write *sql.DB // exactly one connection
	read  *sql.DB
}

var _ store.Store = (*DB)(nil)

// Open opens, creating if needed, the database at path and brings its schema
// up to date.
func Open(path string) (*DB, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	dsn := func(params ...string) string {
		params = append(params,
			"_pragma=busy_timeout("+strconv.FormatInt(busyTimeout.Milliseconds(), 10)+")",
			"_pragma=foreign_keys(1)",
		)
		return "file:" + (&url.URL{Path: abs}).EscapedPath() + "?" + strings.Join(params, "&")
	}

	// SQLite cannot say why it fails to open a file in a directory that
	// refuses writes; the file system can. (A full disk is no reason to
	// refuse to start: reads and inference still work.)
	if err := probeWritable(filepath.Dir(abs), 0); err != nil {
		return nil, fmt.Errorf("open %s: the directory %s is not writable: %w", abs, filepath.Dir(abs), err)
	}
	db := &DB{path: abs}
	// WAL lets readers run beside the writer. synchronous=FULL syncs the WAL
	// at every commit: a change the API confirmed, and its ledger event,
	// survive a power cut or an OS crash, not only a killed server (NORMAL
	// could lose the last commits). It costs ~0.35 ms per commit here, and a
	// deployment commits a dozen times.
	db.write, err = sql.Open("sqlite", dsn("_txlock=immediate", "_pragma=journal_mode(WAL)", "_pragma=synchronous(FULL)"))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", abs, err)
	}
	db.write.SetMaxOpenConns(1)
	db.write.SetConnMaxIdleTime(0)
	if err := db.migrate(context.Background()); err != nil {
		_ = db.write.Close()
		return nil, fmt.Errorf("open %s: %w", abs, db.diskError(err))
	}

	db.read, err = sql.Open("sqlite", dsn("_pragma=query_only(1)"))
	if err != nil {
		_ = db.write.Close()
		return nil, fmt.Errorf("open %s: %w", abs, err)
	}
	// Keep the read connections a refresh of many resources uses at once
	// (Terraform reads 10 in parallel, each call two reads: the token and
	// the object) instead of database/sql's default of 2 idle, which closes
	// the rest after each read and opens them again, pragmas and schema
	// included, for the next.
	db.read.SetMaxIdleConns(readIdleConns)
	return db, nil
}

// Path is the absolute path of the database file.
func (db *DB) Path() string { return db.path }

// Close closes both connection pools.
func (db *DB) Close() error {
	return errors.Join(db.read.Close(), db.write.Close())
}

// View runs fn in a read-only transaction.
func (db *DB) View(ctx context.Context, fn func(store.Tx) error) error {
	tx, err := db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("begin read: %w", err)
	}
	defer func() { _ = tx.Rollback() }() // a no-op once committed
	return fn(&Tx{tx: tx})
}

// Update runs fn in a write transaction and commits it when fn returns nil.
func (db *DB) Update(ctx context.Context, fn func(store.Tx) error) error {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return db.diskError(fmt.Errorf("begin write: %w", err))
	}
	defer func() { _ = tx.Rollback() }() // a no-op once committed
	if err := fn(&Tx{tx: tx}); err != nil {
		return db.diskError(err)
	}
	if err := tx.Commit(); err != nil {
		return db.diskError(fmt.Errorf("commit: %w", err))
	}
	return nil
}

// diskError marks a failure of the disk under the database with the errno
// it stands for (syscall.ENOSPC, EROFS, or EIO when nothing more precise is
// known), so that callers can explain it without knowing this driver.
// SQLite reports a write refused by the file system as a bare I/O error, so
// for those a probe of the directory finds the cause.
func (db *DB) diskError(err error) error {
	switch sqliteCode(err) & 0xff {
	case sqlite3.SQLITE_FULL:
		return fmt.Errorf("%w: %w", err, syscall.ENOSPC)
	case sqlite3.SQLITE_READONLY:
		return fmt.Errorf("%w: %w", err, syscall.EROFS)
	case sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN:
		if perr := probeWritable(filepath.Dir(db.path), 4096); perr != nil {
			return fmt.Errorf("%w: %w", err, perr)
		}
		return fmt.Errorf("%w: %w", err, syscall.EIO)
	}
	return err
}

// probeWritable creates a file of n bytes in dir and removes it: nil if
// that works, else the file system's reason, such as a read-only or full
// disk.
func probeWritable(dir string, n int) error {
	f, err := os.CreateTemp(dir, ".write-probe-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	_, err = f.Write(make([]byte, n))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// migrate applies, in order, every embedded migration not yet recorded in
// schema_migrations. Each runs in its own transaction with its record, so a
// failed migration leaves the schema at the previous version.
func (db *DB) migrate(ctx context.Context) error {
	if _, err := db.write.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at TEXT NOT NULL
	)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	slices.Sort(names)
	for _, name := range names {
		base := filepath.Base(name)
		num, _, _ := strings.Cut(base, "_")
		version, err := strconv.Atoi(num)
		if err != nil {
			return fmt.Errorf("migration %s: name must start with a number", base)
		}
		if err := db.migrateOne(ctx, version, name); err != nil {
			return fmt.Errorf("migration %s: %w", base, err)
		}
	}
	return nil
}

func (db *DB) migrateOne(ctx context.Context, version int, name string) error {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }() // a no-op once committed
	// Checked inside the write transaction so two processes opening a new
	// file at once do not both apply it.
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, version).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	body, err := migrations.ReadFile(name)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, string(body)); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		version, filepath.Base(name), formatTime(time.Now())); err != nil {
		return err
	}
	return tx.Commit()
}

// Tx is a store.Tx on one SQLite transaction.
type Tx struct {
	tx *sql.Tx
}

var _ store.Tx = (*Tx)(nil)

// timeFormat is RFC 3339 with a fixed nine fractional digits: it parses back
// to the same instant, and, unlike time.RFC3339Nano, which drops trailing
// zeros, it sorts as text in time order.
const timeFormat = "2006-01-02T15:04:05.000000000Z07:00"

func formatTime(t time.Time) string { return t.UTC().Format(timeFormat) }

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("stored time %q: %w", s, err)
	}
	return t, nil
}

func sqliteCode(err error) int {
	var e *sqlite.Error
	if errors.As(err, &e) {
		return e.Code()
	}
	return 0
}

func isUniqueViolation(err error) bool {
	c := sqliteCode(err)
	return c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY || c == sqlite3.SQLITE_CONSTRAINT_UNIQUE
}

func isForeignKeyViolation(err error) bool {
	return sqliteCode(err) == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}

func notFound(kind, id string) error {
	return apitypes.Errorf(apitypes.CodeNotFound, "%s %q does not exist", kind, id)
}

func alreadyExists(kind, id string) error {
	return apitypes.Errorf(apitypes.CodeConflict, "%s %q already exists", kind, id)
}

// checkRevision explains why an UPDATE ... WHERE revision = ? matched no row:
// the object is gone, or someone else changed it first.
func (tx *Tx) checkRevision(ctx context.Context, query, kind, id string, prev int64) error {
	var current int64
	err := tx.tx.QueryRowContext(ctx, query, id).Scan(&current)
	if errors.Is(err, sql.ErrNoRows) {
		return notFound(kind, id)
	}
	if err != nil {
		return err
	}
	return apitypes.Errorf(apitypes.CodeConflict,
		"%s %q has revision %d, not %d: it changed since you read it; read it again and retry", kind, id, current, prev)
}

// labelTable holds one kind of object's labels, one row per pair.
type labelTable struct {
	delete string // args: object ID
	insert string // args: object ID, key, value
}

var (
	versionLabels = labelTable{
		delete: `DELETE FROM model_version_labels WHERE version_id = ?`,
		insert: `INSERT INTO model_version_labels (version_id, key, value) VALUES (?, ?, ?)`,
	}
	endpointLabels = labelTable{
		delete: `DELETE FROM endpoint_labels WHERE endpoint = ?`,
		insert: `INSERT INTO endpoint_labels (endpoint, key, value) VALUES (?, ?, ?)`,
	}
)

// replace makes the table hold exactly labels for id.
func (lt labelTable) replace(ctx context.Context, tx *Tx, id string, labels map[string]string) error {
	if _, err := tx.tx.ExecContext(ctx, lt.delete, id); err != nil {
		return err
	}
	for k, v := range labels {
		if _, err := tx.tx.ExecContext(ctx, lt.insert, id, k, v); err != nil {
			return err
		}
	}
	return nil
}

// labelSelector encodes a label filter as the JSON object the list queries
// take as a parameter: they match rows that have every pair, so the SQL
// stays constant whatever the filter.
func labelSelector(labels map[string]string) (string, error) {
	if labels == nil {
		labels = map[string]string{}
	}
	b, err := json.Marshal(labels)
	return string(b), err
}

// deleteRow runs a one-row DELETE for the object kind/key: not found when no
// row matched, conflict when a foreign key still refers to it.
func (tx *Tx) deleteRow(ctx context.Context, query, kind, key string) error {
	res, err := tx.tx.ExecContext(ctx, query, key)
	if isForeignKeyViolation(err) {
		return apitypes.Errorf(apitypes.CodeConflict, "%s %q is in use by an endpoint", kind, key)
	}
	if err != nil {
		return fmt.Errorf("delete %s %q: %w", kind, key, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return notFound(kind, key)
	}
	return nil
}
