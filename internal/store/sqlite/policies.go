package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
)

const kindPolicy = "deployment policy"

// GetPolicy returns the named deployment policy.
func (tx *Tx) GetPolicy(ctx context.Context, name string) (*apitypes.DeploymentPolicy, error) {
	var body string
	err := tx.tx.QueryRowContext(ctx, `SELECT body FROM policies WHERE name = ?`, name).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound(kindPolicy, name)
	}
	if err != nil {
		return nil, fmt.Errorf("get deployment policy %q: %w", name, err)
	}
	var p apitypes.DeploymentPolicy
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		return nil, fmt.Errorf("decode deployment policy %q: %w", name, err)
	}
	return &p, nil
}

// ListPolicies returns every policy, ordered by name.
func (tx *Tx) ListPolicies(ctx context.Context) ([]apitypes.DeploymentPolicy, error) {
	rows, err := tx.tx.QueryContext(ctx, `SELECT body FROM policies ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list deployment policies: %w", err)
	}
	defer rows.Close()
	items := []apitypes.DeploymentPolicy{}
	for rows.Next() {
		var body string
		if err := rows.Scan(&body); err != nil {
			return nil, fmt.Errorf("list deployment policies: %w", err)
		}
		var p apitypes.DeploymentPolicy
		if err := json.Unmarshal([]byte(body), &p); err != nil {
			return nil, fmt.Errorf("decode deployment policy: %w", err)
		}
		items = append(items, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list deployment policies: %w", err)
	}
	return items, nil
}

// CreatePolicy stores p with revision 1.
func (tx *Tx) CreatePolicy(ctx context.Context, p *apitypes.DeploymentPolicy) error {
	p.Revision = 1
	body, err := marshalPolicy(p)
	if err != nil {
		return err
	}
	_, err = tx.tx.ExecContext(ctx, `INSERT INTO policies (name, revision, body) VALUES (?, ?, ?)`, p.Name, p.Revision, body)
	if isUniqueViolation(err) {
		return alreadyExists(kindPolicy, p.Name)
	}
	if err != nil {
		return fmt.Errorf("create deployment policy %q: %w", p.Name, err)
	}
	return nil
}

// UpdatePolicy replaces the policy named p.Name if its revision is
// prevRevision, and sets p.Revision to prevRevision+1.
func (tx *Tx) UpdatePolicy(ctx context.Context, p *apitypes.DeploymentPolicy, prevRevision int64) error {
	next := *p
	next.Revision = prevRevision + 1
	body, err := marshalPolicy(&next)
	if err != nil {
		return err
	}
	res, err := tx.tx.ExecContext(ctx, `UPDATE policies SET revision = ?, body = ? WHERE name = ? AND revision = ?`,
		next.Revision, body, p.Name, prevRevision)
	if err != nil {
		return fmt.Errorf("update deployment policy %q: %w", p.Name, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return tx.checkRevision(ctx, `SELECT revision FROM policies WHERE name = ?`, kindPolicy, p.Name, prevRevision)
	}
	*p = next
	return nil
}

// DeletePolicy removes a policy. It refuses with CodeConflict while an
// endpoint uses it.
func (tx *Tx) DeletePolicy(ctx context.Context, name string) error {
	return tx.deleteRow(ctx, `DELETE FROM policies WHERE name = ?`, kindPolicy, name)
}

func marshalPolicy(p *apitypes.DeploymentPolicy) ([]byte, error) {
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	body, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode deployment policy %q: %w", p.Name, err)
	}
	return body, nil
}
