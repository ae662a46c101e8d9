package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/store"
)

const kindDeployment = "deployment"

// terminalPhases is the SQL list of the phases that end a deployment; the
// active filter excludes them.
const terminalPhases = `('` + apitypes.DeploySucceeded + `', '` + apitypes.DeployRolledBack + `', '` +
	apitypes.DeployFailed + `', '` + apitypes.DeployAborted + `')`

// GetDeployment returns the deployment with the given ID.
func (tx *Tx) GetDeployment(ctx context.Context, id string) (*apitypes.Deployment, error) {
	var body []byte
	err := tx.tx.QueryRowContext(ctx, `SELECT body FROM deployments WHERE id = ?`, id).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound(kindDeployment, id)
	}
	if err != nil {
		return nil, fmt.Errorf("get deployment %q: %w", id, err)
	}
	return unmarshalDeployment(body)
}

// ListDeployments returns the deployments matching f, newest first; those
// created at the same instant come in reverse order of creation.
func (tx *Tx) ListDeployments(ctx context.Context, f store.DeploymentFilter) ([]apitypes.Deployment, error) {
	col := `body`
	if f.WithoutEvents {
		col = `json_remove(body, '$.events')`
	}
	query, args := `SELECT `+col+` FROM deployments WHERE 1 = 1`, []any{}
	if f.Endpoint != "" {
		query += ` AND endpoint = ?`
		args = append(args, f.Endpoint)
	}
	if f.Active {
		query += ` AND phase NOT IN ` + terminalPhases
	}
	if !f.Since.IsZero() {
		query += ` AND created_at >= ?`
		args = append(args, formatTime(f.Since))
	}
	query += ` ORDER BY created_at DESC, rowid DESC`
	if f.Limit > 0 {
		query += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	rows, err := tx.tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list deployments: %w", err)
	}
	defer rows.Close()
	items := []apitypes.Deployment{}
	for rows.Next() {
		var body []byte
		if err := rows.Scan(&body); err != nil {
			return nil, fmt.Errorf("list deployments: %w", err)
		}
		d, err := unmarshalDeployment(body)
		if err != nil {
			return nil, fmt.Errorf("list deployments: %w", err)
		}
		items = append(items, *d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list deployments: %w", err)
	}
	return items, nil
}

// CreateDeployment stores d. An existing deployment with the same ID is a
// conflict.
func (tx *Tx) CreateDeployment(ctx context.Context, d *apitypes.Deployment) error {
	if d.ID == "" {
		return fmt.Errorf("create deployment: ID is empty")
	}
	body, err := marshalDeployment(d)
	if err != nil {
		return err
	}
	_, err = tx.tx.ExecContext(ctx, `INSERT INTO deployments (id, endpoint, phase, created_at, finished_at, body) VALUES (?, ?, ?, ?, ?, ?)`,
		d.ID, d.Endpoint, d.Phase, formatTime(d.CreatedAt), finishedAt(d), body)
	if isUniqueViolation(err) {
		return alreadyExists(kindDeployment, d.ID)
	}
	if err != nil {
		return fmt.Errorf("create deployment %q: %w", d.ID, err)
	}
	return nil
}

// UpdateDeployment replaces the stored deployment d.ID with d. There is no
// revision check: the rollout engine is the one writer of a deployment after
// its creation, and it writes inside the transactions that read it.
func (tx *Tx) UpdateDeployment(ctx context.Context, d *apitypes.Deployment) error {
	body, err := marshalDeployment(d)
	if err != nil {
		return err
	}
	res, err := tx.tx.ExecContext(ctx, `UPDATE deployments SET endpoint = ?, phase = ?, created_at = ?, finished_at = ?, body = ? WHERE id = ?`,
		d.Endpoint, d.Phase, formatTime(d.CreatedAt), finishedAt(d), body, d.ID)
	if err != nil {
		return fmt.Errorf("update deployment %q: %w", d.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return notFound(kindDeployment, d.ID)
	}
	return nil
}

func finishedAt(d *apitypes.Deployment) any {
	if d.FinishedAt == nil {
		return nil
	}
	return formatTime(*d.FinishedAt)
}

// marshalDeployment encodes d with every time in UTC, which it also makes
// d's own, so that what the caller holds equals what a read returns.
func marshalDeployment(d *apitypes.Deployment) ([]byte, error) {
	d.CreatedAt, d.UpdatedAt = d.CreatedAt.UTC(), d.UpdatedAt.UTC()
	if d.FinishedAt != nil {
		t := d.FinishedAt.UTC()
		d.FinishedAt = &t
	}
	for i := range d.Events {
		d.Events[i].Time = d.Events[i].Time.UTC()
	}
	body, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("encode deployment %q: %w", d.ID, err)
	}
	return body, nil
}

func unmarshalDeployment(body []byte) (*apitypes.Deployment, error) {
	var d apitypes.Deployment
	if err := json.Unmarshal(body, &d); err != nil {
		return nil, fmt.Errorf("decode deployment: %w", err)
	}
	if d.Events == nil {
		d.Events = []apitypes.DeploymentEvent{} // the API shows [], never null
	}
	return &d, nil
}
