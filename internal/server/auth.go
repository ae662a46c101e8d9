package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/store"
)

// role is a token's power; a higher role may do everything a lower one may.
type role int

const (
	roleReader role = iota + 1
	roleDeployer
	roleAdmin
)

func (r role) String() string { return apitypes.Roles[r-1] }

func parseRole(s string) role { return role(slices.Index(apitypes.Roles, s) + 1) }

// principal is who makes a change and through what, as the ledger records it.
type principal struct {
	Actor  string
	Source string
	Role   role
}

type principalKey struct{}

func principalFrom(ctx context.Context) principal {
	p, _ := ctx.Value(principalKey{}).(principal)
	return p
}

// authenticate checks the bearer token against need and returns a context
// that carries who is calling.
func (s *Server) authenticate(r *http.Request, need role) (context.Context, error) {
	ctx := r.Context()
	scheme, secret, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	secret = strings.TrimSpace(secret)
	if !strings.EqualFold(scheme, "Bearer") || secret == "" {
		return nil, apitypes.Errorf(apitypes.CodeUnauthorized, "this call needs a token: send the header \"Authorization: Bearer <token>\"")
	}
	var tok *apitypes.Token
	err := s.db.View(ctx, func(tx store.Tx) (err error) {
		tok, err = tx.TokenBySecretHash(ctx, hashSecret(secret))
		return err
	})
	if apitypes.IsNotFound(err) {
		return nil, apitypes.Errorf(apitypes.CodeUnauthorized, "the bearer token is not known to this server; it may have been deleted")
	}
	if err != nil {
		return nil, err
	}
	if have := parseRole(tok.Role); have < need {
		return nil, apitypes.Errorf(apitypes.CodeForbidden, "token %q has role %s; this call needs role %s or higher", tok.Name, tok.Role, need)
	}
	source := r.Header.Get(apitypes.HeaderSource)
	if source == "" {
		source = "api"
	}
	if !slices.Contains(apitypes.Sources, source) {
		return nil, apitypes.Errorf(apitypes.CodeInvalid, "header %s is %q; use one of %s or leave it out", apitypes.HeaderSource, source, strings.Join(apitypes.Sources, ", "))
	}
	return context.WithValue(ctx, principalKey{}, principal{Actor: tok.Name, Source: source, Role: parseRole(tok.Role)}), nil
}

// hashSecret is how a secret is stored and looked up: SHA-256 suffices
// because secrets are 256 random bits, not passwords.
func hashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// newSecret returns a new token secret and an ID for its token.
func newSecret() (id, secret string) {
	b := make([]byte, 40)
	_, _ = rand.Read(b) // never fails: crypto/rand crashes the program instead
	return "tok_" + hex.EncodeToString(b[:8]), "slw_" + base64.RawURLEncoding.EncodeToString(b[8:])
}

// Bootstrap token.
const (
	bootstrapName  = "bootstrap-admin"
	bootstrapFile  = "admin.token"
	bootstrapActor = "slipway server"
)

// bootstrap makes sure someone can call the API. With Config.AdminToken it
// makes that secret an admin token named bootstrap-admin, replacing an older
// bootstrap-admin, so changing the setting rotates the token. Without it, and
// with no tokens at all, it mints an admin token and writes its secret to
// DataDir/admin.token (mode 0600).
func (s *Server) bootstrap(ctx context.Context) error {
	if s.cfg.AdminToken != "" {
		return s.ensureAdminToken(ctx)
	}
	return s.mintFirstToken(ctx)
}

// bootstrapper is the ledger's actor for tokens the server makes itself,
// at its operator's command.
var bootstrapper = principal{Actor: bootstrapActor, Source: "cli"}

func (s *Server) ensureAdminToken(ctx context.Context) error {
	path := filepath.Join(s.cfg.DataDir, bootstrapFile)
	var rotated bool
	err := s.db.Update(ctx, func(tx store.Tx) error {
		tok, err := tx.TokenBySecretHash(ctx, hashSecret(s.cfg.AdminToken))
		if err == nil {
			if tok.Role != "admin" {
				return fmt.Errorf("the configured admin token's secret belongs to token %q with role %s, not admin", tok.Name, tok.Role)
			}
			return nil
		}
		if !apitypes.IsNotFound(err) {
			return err
		}
		tokens, err := tx.ListTokens(ctx)
		if err != nil {
			return err
		}
		for _, t := range tokens {
			if t.Name == bootstrapName {
				if err := removeToken(ctx, tx, bootstrapper, s.now(), &t); err != nil {
					return err
				}
				rotated = true
			}
		}
		id, _ := newSecret()
		t := &apitypes.Token{ID: id, Name: bootstrapName, Role: "admin", CreatedAt: s.now()}
		return addToken(ctx, tx, bootstrapper, t, s.cfg.AdminToken)
	})
	if err != nil {
		return err
	}
	if rotated {
		// A secret written there earlier no longer works.
		if err := os.Remove(path); err == nil {
			s.log.Info("removed the old admin token file; the configured admin token replaces it", "path", path)
		}
	}
	return nil
}

func (s *Server) mintFirstToken(ctx context.Context) error {
	path := filepath.Join(s.cfg.DataDir, bootstrapFile)
	var created bool
	err := s.db.Update(ctx, func(tx store.Tx) error {
		tokens, err := tx.ListTokens(ctx)
		if err != nil || len(tokens) > 0 {
			return err
		}
		id, secret := newSecret()
		t := &apitypes.Token{ID: id, Name: bootstrapName, Role: "admin", CreatedAt: s.now()}
		if err := addToken(ctx, tx, bootstrapper, t, secret); err != nil {
			return err
		}
		// Written before the commit: a committed token always has its
		// secret on disk. If the commit fails the file is removed below.
		created = true
		return writeSecretFile(path, secret)
	})
	if err != nil {
		if created {
			_ = os.Remove(path)
		}
		return err
	}
	if created {
		s.bootstrapPath = path
		s.log.Info("created an admin token; its secret is in the file", "path", path)
	}
	return nil
}

// writeSecretFile replaces path with a file only its owner can read.
func writeSecretFile(path, secret string) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".admin.token-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // no-op after the rename
	// CreateTemp makes the file 0600, so the secret is never readable by others.
	if _, err := f.WriteString(secret + "\n"); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
