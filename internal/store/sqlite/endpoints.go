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

const kindEndpoint = "endpoint"

// GetEndpoint returns the named endpoint with its status.
func (tx *Tx) GetEndpoint(ctx context.Context, name string) (*apitypes.Endpoint, error) {
	row := tx.tx.QueryRowContext(ctx, `SELECT body, status FROM endpoints WHERE name = ?`, name)
	e, err := scanEndpoint(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound(kindEndpoint, name)
	}
	if err != nil {
		return nil, fmt.Errorf("get endpoint %q: %w", name, err)
	}
	return e, nil
}

// ListEndpoints returns the endpoints matching f, ordered by name.
func (tx *Tx) ListEndpoints(ctx context.Context, f store.EndpointFilter) ([]apitypes.Endpoint, error) {
	selector, err := labelSelector(f.Labels)
	if err != nil {
		return nil, err
	}
	rows, err := tx.tx.QueryContext(ctx, `SELECT body, status FROM endpoints AS e
		WHERE (SELECT COUNT(*) FROM json_each(?1) AS want
			JOIN endpoint_labels AS l ON l.key = want.key AND l.value = want.value
			WHERE l.endpoint = e.name) = (SELECT COUNT(*) FROM json_each(?1))
		ORDER BY e.name`, selector)
	if err != nil {
		return nil, fmt.Errorf("list endpoints: %w", err)
	}
	defer rows.Close()
	items := []apitypes.Endpoint{}
	for rows.Next() {
		e, err := scanEndpoint(rows)
		if err != nil {
			return nil, fmt.Errorf("list endpoints: %w", err)
		}
		items = append(items, *e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list endpoints: %w", err)
	}
	return items, nil
}

// CreateEndpoint stores e, and e.Status as its initial status, with
// revision 1.
func (tx *Tx) CreateEndpoint(ctx context.Context, e *apitypes.Endpoint) error {
	e.Revision = 1
	body, err := marshalEndpoint(e)
	if err != nil {
		return err
	}
	status, err := json.Marshal(e.Status)
	if err != nil {
		return fmt.Errorf("encode endpoint %q status: %w", e.Name, err)
	}
	_, err = tx.tx.ExecContext(ctx, `INSERT INTO endpoints (name, model_version, deployment_policy, revision, body, status) VALUES (?, ?, ?, ?, ?, ?)`,
		e.Name, e.ModelVersion, nullIfEmpty(e.DeploymentPolicy), e.Revision, body, status)
	if err := endpointWriteError(err, e.Name); err != nil {
		return fmt.Errorf("create endpoint %q: %w", e.Name, err)
	}
	return tx.writeEndpointRefs(ctx, e)
}

// UpdateEndpoint replaces the desired state of the endpoint named e.Name if
// its revision is prevRevision, and sets e.Revision to prevRevision+1. The
// stored status is kept: e.Status is ignored on the way in and set to the
// stored status on the way out.
func (tx *Tx) UpdateEndpoint(ctx context.Context, e *apitypes.Endpoint, prevRevision int64) error {
	next := *e
	next.Revision = prevRevision + 1
	body, err := marshalEndpoint(&next)
	if err != nil {
		return err
	}
	res, err := tx.tx.ExecContext(ctx, `UPDATE endpoints SET model_version = ?, deployment_policy = ?, revision = ?, body = ? WHERE name = ? AND revision = ?`,
		next.ModelVersion, nullIfEmpty(next.DeploymentPolicy), next.Revision, body, e.Name, prevRevision)
	if err := endpointWriteError(err, e.Name); err != nil {
		return fmt.Errorf("update endpoint %q: %w", e.Name, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return tx.checkRevision(ctx, `SELECT revision FROM endpoints WHERE name = ?`, kindEndpoint, e.Name, prevRevision)
	}
	if err := tx.writeEndpointRefs(ctx, &next); err != nil {
		return err
	}
	var status []byte
	if err := tx.tx.QueryRowContext(ctx, `SELECT status FROM endpoints WHERE name = ?`, e.Name).Scan(&status); err != nil {
		return fmt.Errorf("update endpoint %q: %w", e.Name, err)
	}
	if err := json.Unmarshal(status, &next.Status); err != nil {
		return fmt.Errorf("decode endpoint %q status: %w", e.Name, err)
	}
	*e = next
	return nil
}

// SetEndpointStatus replaces the endpoint's status. The revision stays: it
// counts changes of the desired state only.
func (tx *Tx) SetEndpointStatus(ctx context.Context, name string, s apitypes.EndpointStatus) error {
	status, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("encode endpoint %q status: %w", name, err)
	}
	res, err := tx.tx.ExecContext(ctx, `UPDATE endpoints SET status = ? WHERE name = ?`, status, name)
	if err != nil {
		return fmt.Errorf("set endpoint %q status: %w", name, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return notFound(kindEndpoint, name)
	}
	return nil
}

// DeleteEndpoint removes an endpoint with its labels and traffic split.
func (tx *Tx) DeleteEndpoint(ctx context.Context, name string) error {
	return tx.deleteRow(ctx, `DELETE FROM endpoints WHERE name = ?`, kindEndpoint, name)
}

// EndpointsUsingVersion names the endpoints whose model_version or
// traffic_split refers to the version, sorted.
func (tx *Tx) EndpointsUsingVersion(ctx context.Context, id string) ([]string, error) {
	return tx.names(ctx, `SELECT name FROM endpoints WHERE model_version = ?
		UNION SELECT endpoint FROM endpoint_traffic_split WHERE model_version = ?
		ORDER BY 1`, id, id)
}

// EndpointsUsingPolicy names the endpoints that use the policy, sorted.
func (tx *Tx) EndpointsUsingPolicy(ctx context.Context, name string) ([]string, error) {
	return tx.names(ctx, `SELECT name FROM endpoints WHERE deployment_policy = ? ORDER BY name`, name)
}

func (tx *Tx) names(ctx context.Context, query string, args ...any) ([]string, error) {
	rows, err := tx.tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("endpoints in use: %w", err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		names = append(names, n)
	}
	return names, rows.Err()
}

// writeEndpointRefs makes the label and traffic split tables match e.
func (tx *Tx) writeEndpointRefs(ctx context.Context, e *apitypes.Endpoint) error {
	if err := endpointLabels.replace(ctx, tx, e.Name, e.Labels); err != nil {
		return fmt.Errorf("endpoint %q labels: %w", e.Name, err)
	}
	if _, err := tx.tx.ExecContext(ctx, `DELETE FROM endpoint_traffic_split WHERE endpoint = ?`, e.Name); err != nil {
		return fmt.Errorf("endpoint %q traffic split: %w", e.Name, err)
	}
	for _, w := range e.TrafficSplit {
		_, err := tx.tx.ExecContext(ctx, `INSERT INTO endpoint_traffic_split (endpoint, model_version) VALUES (?, ?)`, e.Name, w.ModelVersion)
		if err := endpointWriteError(err, e.Name); err != nil {
			return fmt.Errorf("endpoint %q traffic split: %w", e.Name, err)
		}
	}
	return nil
}

// endpointWriteError turns constraint violations into API errors.
func endpointWriteError(err error, name string) error {
	switch {
	case err == nil:
		return nil
	case isUniqueViolation(err):
		return alreadyExists(kindEndpoint, name)
	case isForeignKeyViolation(err):
		return apitypes.Errorf(apitypes.CodeConflict, "%s %q refers to a model version or deployment policy that does not exist", kindEndpoint, name)
	}
	return err
}

type scanner interface{ Scan(dest ...any) error }

func scanEndpoint(row scanner) (*apitypes.Endpoint, error) {
	var body, status []byte
	if err := row.Scan(&body, &status); err != nil {
		return nil, err
	}
	var e apitypes.Endpoint
	if err := json.Unmarshal(body, &e); err != nil {
		return nil, fmt.Errorf("decode endpoint: %w", err)
	}
	if err := json.Unmarshal(status, &e.Status); err != nil {
		return nil, fmt.Errorf("decode endpoint %q status: %w", e.Name, err)
	}
	return &e, nil
}

// marshalEndpoint encodes the desired state; status is kept in its own column.
func marshalEndpoint(e *apitypes.Endpoint) ([]byte, error) {
	e.CreatedAt, e.UpdatedAt = e.CreatedAt.UTC(), e.UpdatedAt.UTC()
	desired := *e
	desired.Status = apitypes.EndpointStatus{}
	body, err := json.Marshal(desired)
	if err != nil {
		return nil, fmt.Errorf("encode endpoint %q: %w", e.Name, err)
	}
	return body, nil
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}
