package server

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"time"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/store"
	"github.com/slipwayhq/terraform-provider-slipway/internal/store/sqlite"
)

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var tc apitypes.TokenCreate
	if err := s.decode(w, r, &tc); err != nil {
		return err
	}
	if err := tc.Validate(); err != nil {
		return err
	}
	id, secret := newSecret()
	t := &apitypes.Token{ID: id, Name: tc.Name, Role: tc.Role, CreatedAt: s.now()}
	if err := s.db.Update(ctx, func(tx store.Tx) error {
		return addToken(ctx, tx, principalFrom(ctx), t, secret)
	}); err != nil {
		return err
	}
	t.Secret = secret
	writeJSON(w, http.StatusCreated, t)
	return nil
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var items []apitypes.Token
	if err := s.db.View(ctx, func(tx store.Tx) (err error) {
		items, err = tx.ListTokens(ctx)
		return err
	}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, apitypes.TokenList{Items: items})
	return nil
}

func (s *Server) deleteToken(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id := r.PathValue("id")
	if err := s.db.Update(ctx, func(tx store.Tx) error {
		tokens, err := tx.ListTokens(ctx)
		if err != nil {
			return err
		}
		var target *apitypes.Token
		admins := 0
		for i, t := range tokens {
			if t.ID == id {
				target = &tokens[i]
			}
			if t.Role == "admin" {
				admins++
			}
		}
		if target == nil {
			return apitypes.Errorf(apitypes.CodeNotFound, "token %q does not exist", id)
		}
		// Without an admin token nobody could mint another over the API.
		if target.Role == "admin" && admins == 1 {
			return apitypes.Errorf(apitypes.CodeConflict, "token %q (%s) is the last admin token; create another admin token first", id, target.Name)
		}
		return removeToken(ctx, tx, principalFrom(ctx), s.now(), target)
	}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// addToken stores t under secret's hash and records it in the ledger at
// t.CreatedAt, without the secret.
func addToken(ctx context.Context, tx store.Tx, by principal, t *apitypes.Token, secret string) error {
	t.Secret = ""
	if err := tx.CreateToken(ctx, t, hashSecret(secret)); err != nil {
		return err
	}
	return record(ctx, tx, by, t.CreatedAt, change{Action: "create", ObjectType: apitypes.ObjectToken, ObjectID: t.ID, After: t})
}

func removeToken(ctx context.Context, tx store.Tx, by principal, at time.Time, t *apitypes.Token) error {
	if err := tx.DeleteToken(ctx, t.ID); err != nil {
		return err
	}
	return record(ctx, tx, by, at, change{Action: "delete", ObjectType: apitypes.ObjectToken, ObjectID: t.ID, Before: t})
}

// MintToken creates a token directly in the store under dataDir, without a
// running server, so an operator with access to the machine can get a first
// or replacement token. It is safe while a server runs on the same data
// directory: both wait for SQLite's write lock. The ledger records the
// change as made by "local:<OS user>" through the CLI. The returned token
// carries its secret.
func MintToken(ctx context.Context, dataDir string, tc apitypes.TokenCreate) (*apitypes.Token, error) {
	if err := tc.Validate(); err != nil {
		return nil, err
	}
	// Refuse to start a new, empty store somewhere unexpected.
	if _, err := os.Stat(filepath.Join(dataDir, "slipway.db")); err != nil {
		return nil, fmt.Errorf("no Slipway store in %s (has `slipway server --data-dir %s` run?): %w", dataDir, dataDir, err)
	}
	db, err := sqlite.Open(filepath.Join(dataDir, "slipway.db"))
	if err != nil {
		return nil, err
	}
	defer db.Close()

	actor := "local"
	if u, err := user.Current(); err == nil {
		actor = "local:" + u.Username
	}
	id, secret := newSecret()
	t := &apitypes.Token{ID: id, Name: tc.Name, Role: tc.Role, CreatedAt: time.Now().UTC()}
	if err := db.Update(ctx, func(tx store.Tx) error {
		return addToken(ctx, tx, principal{Actor: actor, Source: "cli"}, t, secret)
	}); err != nil {
		return nil, fmt.Errorf("create token: %w", err)
	}
	t.Secret = secret
	return t, nil
}
