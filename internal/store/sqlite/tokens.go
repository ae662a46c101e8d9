package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
)

const kindToken = "token"

// CreateToken stores t under the SHA-256 of its secret. t.Secret is never
// stored.
func (tx *Tx) CreateToken(ctx context.Context, t *apitypes.Token, secretHash string) error {
	t.CreatedAt = t.CreatedAt.UTC()
	_, err := tx.tx.ExecContext(ctx, `INSERT INTO tokens (id, name, role, secret_hash, created_at) VALUES (?, ?, ?, ?, ?)`,
		t.ID, t.Name, t.Role, secretHash, formatTime(t.CreatedAt))
	if isUniqueViolation(err) {
		return alreadyExists(kindToken, t.ID)
	}
	if err != nil {
		return fmt.Errorf("create token %q: %w", t.ID, err)
	}
	return nil
}

// TokenBySecretHash returns the token whose secret hashes to secretHash.
func (tx *Tx) TokenBySecretHash(ctx context.Context, secretHash string) (*apitypes.Token, error) {
	row := tx.tx.QueryRowContext(ctx, `SELECT id, name, role, created_at FROM tokens WHERE secret_hash = ?`, secretHash)
	t, err := scanToken(row)
	if errors.Is(err, sql.ErrNoRows) {
		// Say nothing about the secret: the message may reach a log.
		return nil, apitypes.Errorf(apitypes.CodeNotFound, "token does not exist")
	}
	if err != nil {
		return nil, fmt.Errorf("token by secret: %w", err)
	}
	return t, nil
}

// ListTokens returns every token, oldest first, without secrets.
func (tx *Tx) ListTokens(ctx context.Context) ([]apitypes.Token, error) {
	rows, err := tx.tx.QueryContext(ctx, `SELECT id, name, role, created_at FROM tokens ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	items := []apitypes.Token{}
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("list tokens: %w", err)
		}
		items = append(items, *t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return items, nil
}

// DeleteToken removes a token; its secret stops working at once.
func (tx *Tx) DeleteToken(ctx context.Context, id string) error {
	return tx.deleteRow(ctx, `DELETE FROM tokens WHERE id = ?`, kindToken, id)
}

func scanToken(row scanner) (*apitypes.Token, error) {
	var t apitypes.Token
	var created string
	if err := row.Scan(&t.ID, &t.Name, &t.Role, &created); err != nil {
		return nil, err
	}
	var err error
	if t.CreatedAt, err = parseTime(created); err != nil {
		return nil, err
	}
	return &t, nil
}
