// Command slipway is the Slipway serving plane and its operator CLI:
// `slipway server` runs the control plane and the inference gateway; the
// other commands read and manage a running server. This file only parses
// flags and handles signals; internal/cli does the work.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/slipwayhq/terraform-provider-slipway/internal/cli"
	"github.com/slipwayhq/terraform-provider-slipway/internal/client"
	"github.com/slipwayhq/terraform-provider-slipway/internal/worker"
)

const usage = `Usage: slipway <command> [flags]

Serving:
  server                       run the control plane and the inference gateway
  worker --model-path P --format onnx [--name N] [--version V] [--listen ADDR]
                               serve one model (the server starts these itself)

Operating a server (flags: --addr, --token, -o table|json):
  versions list [--model M] [--labels k=v,...]
  versions get MODEL/VERSION
  policies list
  policies get NAME
  endpoints list [--labels k=v,...]
  endpoints get NAME
  deployments list [--endpoint E] [--active] [--limit N]
  deployments get ID
  deployments promote ID       let a deployment awaiting approval go to full traffic
  deployments abort ID         stop a deployment and put traffic back
  deployments watch ID|ENDPOINT
                               follow a deployment (an endpoint's newest) until it
                               ends: exits 0 if it succeeded, 1 naming the reason if not
  measures [--endpoint E]      key measures over the last 90 days
  audit list [--object-type T] [--object-id ID] [--after SEQ] [--limit N]
  audit verify                 exits 1 naming the first broken event
  tokens create --name N --role reader|deployer|admin [--data-dir DIR]
  tokens list
  tokens delete ID

Environment: SLIPWAY_ADDR (default http://127.0.0.1:8470), SLIPWAY_TOKEN,
SLIPWAY_ADMIN_TOKEN (server: the admin token's secret), SLIPWAY_GATEWAY_TOKEN
(server: a bearer token the gateway requires for inference calls).

'tokens create --data-dir DIR' needs no server and no token: it writes the
token straight into the store in DIR, for the first token or when every admin
token is lost. It is safe while the server runs.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// The first signal starts a graceful shutdown; restoring the default
		// handling lets a second one end the process at once.
		<-ctx.Done()
		stop()
	}()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}

// errUsage marks a command line that could not be understood; run has
// already said why.
var errUsage = errors.New("usage")

// run executes one command line and returns the exit status: 0 done, 1
// failed, 2 not understood.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch cmd, rest := args[0], args[1:]; cmd {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	case "server":
		err = runServer(ctx, rest, stdout, stderr, getenv)
	case "worker":
		err = runWorker(ctx, rest, stdout, stderr)
	case "versions", "policies", "endpoints", "deployments", "measures", "audit", "tokens":
		err = runOperator(ctx, cmd, rest, stdout, stderr, getenv)
	default:
		fmt.Fprintf(stderr, "slipway: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage):
		return 2
	case errors.Is(err, flag.ErrHelp):
		return 0
	}
	fmt.Fprintf(stderr, "slipway: %v\n", err)
	return 1
}

func runServer(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := newFlagSet("server", stderr)
	cfg := cli.ServeConfig{AdminToken: getenv("SLIPWAY_ADMIN_TOKEN"), GatewayToken: getenv("SLIPWAY_GATEWAY_TOKEN")}
	if exe, err := os.Executable(); err == nil {
		cfg.WorkerCommand = []string{exe, "worker"}
	}
	fs.StringVar(&cfg.DataDir, "data-dir", "./slipway-data", "directory for the store and artifacts")
	fs.StringVar(&cfg.Listen, "listen", "127.0.0.1:8470", "API address")
	fs.StringVar(&cfg.GatewayListen, "gateway-listen", "127.0.0.1:8471", "inference gateway address")
	fs.StringVar(&cfg.GatewayURL, "gateway-url", "", "gateway URL as clients reach it (default: from --gateway-listen)")
	fs.StringVar(&cfg.TLSCert, "tls-cert", "", "TLS certificate file (PEM); serve HTTPS")
	fs.StringVar(&cfg.TLSKey, "tls-key", "", "TLS private key file (PEM)")
	fs.DurationVar(&cfg.ReplicaStartTimeout, "replica-start-timeout", 60*time.Second, "how long a replica may take from start to ready; three failed starts fail a deployment")
	fs.Func("artifact-sources", "comma-separated prefixes artifacts may be fetched from, e.g. file:///srv/models,https://models.example.com/ (default: anywhere the server can read)", func(v string) error {
		cfg.ArtifactSources = append(cfg.ArtifactSources, strings.Split(v, ",")...)
		return nil
	})
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, nil))
	return cli.Serve(ctx, cfg, stdout)
}

func runWorker(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("worker", stderr)
	var cfg worker.Config
	fs.StringVar(&cfg.ModelPath, "model-path", "", "model artifact to serve")
	fs.StringVar(&cfg.Format, "format", "onnx", "artifact format: onnx")
	fs.StringVar(&cfg.Name, "name", "model", "model name echoed in answers")
	fs.StringVar(&cfg.Version, "version", "", "model version echoed in answers")
	fs.StringVar(&cfg.Listen, "listen", worker.DefaultListen, "address to listen on; port 0 picks a free one")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	if cfg.ModelPath == "" {
		fmt.Fprintln(stderr, "slipway worker: --model-path is required")
		return errUsage
	}
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return cli.Worker(ctx, cfg, stdout)
}

func runOperator(ctx context.Context, group string, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	// command is the group and its action; `measures` is a command on its own.
	command := group
	if group != "measures" {
		if len(args) == 0 {
			fmt.Fprintf(stderr, "slipway %s: which action?\n\n%s", group, usage)
			return errUsage
		}
		command, args = group+" "+args[0], args[1:]
	}
	fs := newFlagSet(command, stderr)
	addr := fs.String("addr", envOr(getenv, "SLIPWAY_ADDR", client.DefaultAddress), "server API address")
	token := fs.String("token", getenv("SLIPWAY_TOKEN"), "bearer token")
	format := fs.String("o", "table", "output: table or json")

	// Flags of particular actions.
	var (
		model, labelSel, objectType, objectID string
		after                                 int64
		limit                                 int
		name, role, dataDir                   string
		endpoint                              string
		active                                bool
		nargs                                 int
	)
	switch command {
	case "versions list":
		fs.StringVar(&model, "model", "", "only versions of this model")
		fs.StringVar(&labelSel, "labels", "", "only versions with every label, k=v,k2=v2")
	case "endpoints list":
		fs.StringVar(&labelSel, "labels", "", "only endpoints with every label, k=v,k2=v2")
	case "deployments list":
		fs.StringVar(&endpoint, "endpoint", "", "only deployments of this endpoint")
		fs.BoolVar(&active, "active", false, "only deployments that have not finished")
		fs.IntVar(&limit, "limit", 0, "at most this many deployments, newest first")
	case "measures":
		fs.StringVar(&endpoint, "endpoint", "", "measures of this endpoint only (default: every endpoint)")
	case "audit list":
		fs.StringVar(&objectType, "object-type", "", "only events about this object type (model_version, deployment_policy, endpoint, deployment, token)")
		fs.StringVar(&objectID, "object-id", "", "only events about this object")
		fs.Int64Var(&after, "after", 0, "only events after this sequence number")
		fs.IntVar(&limit, "limit", 0, "at most this many events")
	case "tokens create":
		fs.StringVar(&name, "name", "", "token name, recorded as the actor in the ledger")
		fs.StringVar(&role, "role", "", "reader, deployer or admin")
		fs.StringVar(&dataDir, "data-dir", "", "write the token straight into this server data directory (no server or token needed)")
	case "versions get", "policies get", "endpoints get", "tokens delete",
		"deployments get", "deployments promote", "deployments abort", "deployments watch":
		nargs = 1
	case "policies list", "audit verify", "tokens list":
	default:
		fmt.Fprintf(stderr, "slipway: unknown command %q\n\n%s", command, usage)
		return errUsage
	}
	pos, err := parse(fs, args, nargs)
	if err != nil {
		return err
	}
	if *format != "table" && *format != "json" {
		fmt.Fprintf(stderr, "slipway: -o %q: use table or json\n", *format)
		return errUsage
	}
	labels, err := cli.ParseLabels(labelSel)
	if err != nil {
		fmt.Fprintf(stderr, "slipway: --labels: %v\n", err)
		return errUsage
	}

	op := &cli.Operator{Out: stdout, JSON: *format == "json", TTY: cli.IsTerminal(stdout)}
	if command == "tokens create" && dataDir != "" {
		return op.TokensCreateOffline(ctx, dataDir, name, role)
	}
	if op.Client, err = client.New(client.Config{Address: *addr, Token: *token, Source: "cli", UserAgent: "slipway-cli"}); err != nil {
		return err
	}
	switch command {
	case "versions list":
		err = op.VersionsList(ctx, model, labels)
	case "versions get":
		err = op.VersionsGet(ctx, pos[0])
	case "policies list":
		err = op.PoliciesList(ctx)
	case "policies get":
		err = op.PoliciesGet(ctx, pos[0])
	case "endpoints list":
		err = op.EndpointsList(ctx, labels)
	case "endpoints get":
		err = op.EndpointsGet(ctx, pos[0])
	case "deployments list":
		err = op.DeploymentsList(ctx, client.DeploymentListOptions{Endpoint: endpoint, Active: active, Limit: limit})
	case "deployments get":
		err = op.DeploymentsGet(ctx, pos[0])
	case "deployments promote":
		err = op.DeploymentsPromote(ctx, pos[0])
	case "deployments abort":
		err = op.DeploymentsAbort(ctx, pos[0])
	case "deployments watch":
		err = op.DeploymentsWatch(ctx, pos[0])
	case "measures":
		err = op.Measures(ctx, endpoint)
	case "audit list":
		err = op.AuditList(ctx, client.AuditListOptions{ObjectType: objectType, ObjectID: objectID, AfterSeq: after, Limit: limit})
	case "audit verify":
		err = op.AuditVerify(ctx)
	case "tokens create":
		err = op.TokensCreate(ctx, name, role)
	case "tokens list":
		err = op.TokensList(ctx)
	case "tokens delete":
		err = op.TokensDelete(ctx, pos[0])
	}
	return cli.Explain(err, *addr, *token != "")
}

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("slipway "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parse parses flags wherever they stand among the arguments, so both
// `get fraud/1 -o json` and `get -o json fraud/1` work, and checks that
// exactly nargs positional arguments remain.
func parse(fs *flag.FlagSet, args []string, nargs int) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, errUsage
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) != nargs {
		fmt.Fprintf(fs.Output(), "%s: want %d argument(s), got %d: %q\n", fs.Name(), nargs, len(pos), pos)
		return nil, errUsage
	}
	return pos, nil
}

func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}
