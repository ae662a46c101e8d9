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

const kindModelVersion = "model version"

// GetModelVersion returns the version with ID "model/version".
func (tx *Tx) GetModelVersion(ctx context.Context, id string) (*apitypes.ModelVersion, error) {
	var body string
	err := tx.tx.QueryRowContext(ctx, `SELECT body FROM model_versions WHERE id = ?`, id).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound(kindModelVersion, id)
	}
	if err != nil {
		return nil, fmt.Errorf("get model version %q: %w", id, err)
	}
	var m apitypes.ModelVersion
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		return nil, fmt.Errorf("decode model version %q: %w", id, err)
	}
	return &m, nil
}

// ListModelVersions returns the versions matching f, oldest first.
func (tx *Tx) ListModelVersions(ctx context.Context, f store.VersionFilter) ([]apitypes.ModelVersion, error) {
	selector, err := labelSelector(f.Labels)
	if err != nil {
		return nil, err
	}
	rows, err := tx.tx.QueryContext(ctx, `SELECT body FROM model_versions AS v
		WHERE (?1 = '' OR v.model = ?1)
		AND (SELECT COUNT(*) FROM json_each(?2) AS want
			JOIN model_version_labels AS l ON l.key = want.key AND l.value = want.value
			WHERE l.version_id = v.id) = (SELECT COUNT(*) FROM json_each(?2))
		ORDER BY v.created_at, v.id`, f.Model, selector)
	if err != nil {
		return nil, fmt.Errorf("list model versions: %w", err)
	}
	defer rows.Close()
	items := []apitypes.ModelVersion{}
	for rows.Next() {
		var body string
		if err := rows.Scan(&body); err != nil {
			return nil, fmt.Errorf("list model versions: %w", err)
		}
		var m apitypes.ModelVersion
		if err := json.Unmarshal([]byte(body), &m); err != nil {
			return nil, fmt.Errorf("decode model version: %w", err)
		}
		items = append(items, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list model versions: %w", err)
	}
	return items, nil
}

// CreateModelVersion stores m with revision 1. It sets m.ID from Model and
// Version.
func (tx *Tx) CreateModelVersion(ctx context.Context, m *apitypes.ModelVersion) error {
	m.ID = apitypes.ModelVersionID(m.Model, m.Version)
	m.Revision = 1
	body, err := marshalModelVersion(m)
	if err != nil {
		return err
	}
	_, err = tx.tx.ExecContext(ctx, `INSERT INTO model_versions (id, model, version, revision, body, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		m.ID, m.Model, m.Version, m.Revision, body, formatTime(m.CreatedAt))
	if isUniqueViolation(err) {
		return alreadyExists(kindModelVersion, m.ID)
	}
	if err != nil {
		return fmt.Errorf("create model version %q: %w", m.ID, err)
	}
	if err := versionLabels.replace(ctx, tx, m.ID, m.Labels); err != nil {
		return fmt.Errorf("create model version %q labels: %w", m.ID, err)
	}
	return nil
}

// UpdateModelVersion replaces the version with ID m.ID if its revision is
// prevRevision, and sets m.Revision to prevRevision+1.
func (tx *Tx) UpdateModelVersion(ctx context.Context, m *apitypes.ModelVersion, prevRevision int64) error {
	next := *m
	next.Revision = prevRevision + 1
	body, err := marshalModelVersion(&next)
	if err != nil {
		return err
	}
	res, err := tx.tx.ExecContext(ctx, `UPDATE model_versions SET revision = ?, body = ? WHERE id = ? AND revision = ?`,
		next.Revision, body, m.ID, prevRevision)
	if err != nil {
		return fmt.Errorf("update model version %q: %w", m.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return tx.checkRevision(ctx, `SELECT revision FROM model_versions WHERE id = ?`, kindModelVersion, m.ID, prevRevision)
	}
	if err := versionLabels.replace(ctx, tx, m.ID, m.Labels); err != nil {
		return fmt.Errorf("update model version %q labels: %w", m.ID, err)
	}
	*m = next
	return nil
}

// DeleteModelVersion removes a version. It refuses with CodeConflict while an
// endpoint refers to it.
func (tx *Tx) DeleteModelVersion(ctx context.Context, id string) error {
	return tx.deleteRow(ctx, `DELETE FROM model_versions WHERE id = ?`, kindModelVersion, id)
}

func marshalModelVersion(m *apitypes.ModelVersion) ([]byte, error) {
	m.CreatedAt, m.UpdatedAt = m.CreatedAt.UTC(), m.UpdatedAt.UTC()
	body, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode model version %q: %w", m.ID, err)
	}
	return body, nil
}
