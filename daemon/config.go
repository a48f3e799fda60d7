// Package daemon wires exportd serve together: the checkpoint store, the
// MongoDB client, the job runner, the NATS service and progress publisher
// (with an embedded NATS server when none is configured) and the HTTP
// server, and shuts them down in order.
package daemon

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/cluster"
	"github.com/exportd/exportd/objstore"
)

// Config is the daemon's configuration: built-in defaults, then the YAML
// file, then the environment, then flags. configs/exportd.yaml documents
// every key. A relative path is relative to the directory of the file
// that gives it, or to the working directory when a default, the
// environment or a flag gives it.
type Config struct {
	// DataDir holds exportd.db and exports/<id>/.
	DataDir string `yaml:"dataDir"`
	// MongoURI is the one deployment the daemon reads from. Prefer the
	// environment (EXPORTD_MONGO_URI) for a URI with a password.
	MongoURI string `yaml:"mongoUri"`
	// ServerSelectionTimeout bounds how long MongoDB may be unreachable
	// before an operation fails.
	ServerSelectionTimeout time.Duration `yaml:"serverSelectionTimeout"`
	// HTTPAddr is the download server's address.
	HTTPAddr string `yaml:"httpAddr"`
	// PublicURL is how clients reach the HTTP server, for the URLs in
	// replies (default http://<HTTPAddr>).
	PublicURL string `yaml:"publicUrl"`
	// NATS configures the broker connection.
	NATS NATSConfig `yaml:"nats"`
	// MaxConcurrent exports run at once; QueueSize more may wait.
	MaxConcurrent int `yaml:"maxConcurrent"`
	QueueSize     int `yaml:"queueSize"`
	// Workers is each export's encoder pool (0 = GOMAXPROCS).
	Workers int `yaml:"workers"`
	// Retries is how many failures in a row an export survives when a new
	// cursor can cure them.
	Retries int `yaml:"retries"`
	// Allow lists the namespaces requests may name ("db.coll" or "db.*");
	// empty allows every namespace of the deployment.
	Allow []string `yaml:"allow"`
	// ProfilesDir holds the request profiles (*.yaml). A directory that
	// does not exist is an error at start-up, except DefaultProfilesDir
	// left as it is (then there are no profiles).
	ProfilesDir string `yaml:"profilesDir"`
	// Retention is how long finished exports are kept (0 = forever).
	Retention time.Duration `yaml:"retention"`
	// ShutdownGrace bounds a graceful shutdown.
	ShutdownGrace time.Duration `yaml:"shutdownGrace"`
	// DownloadSecret, when set, makes download URLs carry an expiring
	// signed token. Prefer the environment (EXPORTD_DOWNLOAD_SECRET).
	DownloadSecret string `yaml:"downloadSecret"`
	// TokenTTL is the lifetime of a signed download URL.
	TokenTTL time.Duration `yaml:"tokenTtl"`
	// APIToken, when set, is a bearer token (Authorization: Bearer …) that
	// every HTTP route accepts; with a download secret, the routes that a
	// signed URL does not open need it. At least 16 bytes. Prefer the
	// environment (EXPORTD_API_TOKEN).
	APIToken string `yaml:"apiToken"`
	// PublicMetrics leaves /metrics open when a download secret closes
	// every other route, for a scraper that sends no token.
	PublicMetrics bool `yaml:"publicMetrics"`
	// MaxEventStreams bounds the HTTP event streams (/events,
	// /exports/{id}/events) open at once; one more gets 503.
	MaxEventStreams int `yaml:"maxEventStreams"`
	// CountTotal asks MongoDB for a total for progress events when it is
	// cheap (an unfiltered export's estimated count).
	CountTotal bool `yaml:"countTotal"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"logLevel"`
	// Storage, when set, is an s3:// URL (s3://bucket/prefix) under which
	// the chunks and manifests are kept instead of DataDir; the endpoint
	// and credentials come from the environment as the AWS tools read
	// them.
	Storage string `yaml:"storage"`
	// Cluster makes the daemon one node of several on one NATS JetStream
	// cluster.
	Cluster ClusterConfig `yaml:"cluster"`
}

// ClusterConfig is a node's part in a cluster of daemons. Every node of
// one service must be given the same bucket, streams, replicas and lease,
// and the same nats.prefix, storage and downloadSecret.
type ClusterConfig struct {
	// Enabled keeps the records in JetStream and takes the work from its
	// work queue; it needs storage.
	Enabled bool `yaml:"enabled"`
	// Node names this daemon among the others (default
	// <hostname>-<HTTP port>).
	Node string `yaml:"node"`
	// Replicas is how many NATS servers keep the bucket and streams.
	Replicas int `yaml:"replicas"`
	// LeaseTTL is how long a node may go silent before its exports go to
	// another node.
	LeaseTTL time.Duration `yaml:"leaseTtl"`
	// Bucket is the key-value bucket of the export records; WorkStream and
	// ProgressStream are the streams of the work and the progress events.
	Bucket         string `yaml:"bucket"`
	WorkStream     string `yaml:"workStream"`
	ProgressStream string `yaml:"progressStream"`
	// ProgressMaxAge is how long a progress event is kept.
	ProgressMaxAge time.Duration `yaml:"progressMaxAge"`
}

// NATSConfig is the broker connection. Without URL, an embedded server
// listens on Listen.
type NATSConfig struct {
	URL    string `yaml:"url"`
	Listen string `yaml:"listen"`
	// Prefix of every subject (default "exports").
	Prefix string `yaml:"prefix"`
	// CredsFile, NKeyFile and Token authenticate to a real deployment
	// (Token is better given as EXPORTD_NATS_TOKEN). Without URL, a Token
	// or an NKeyFile (a user seed) is what the embedded server requires
	// of every client; CredsFile needs a real deployment.
	CredsFile string `yaml:"credsFile"`
	NKeyFile  string `yaml:"nkeyFile"`
	Token     string `yaml:"token"`
	// TLS client certificate and CA.
	TLSCert string `yaml:"tlsCert"`
	TLSKey  string `yaml:"tlsKey"`
	TLSCA   string `yaml:"tlsCa"`
}

// minTokenLen is the shortest API token accepted: a shorter one could be
// guessed.
const minTokenLen = 16

// DefaultProfilesDir is where profiles are looked for when none is
// configured: relative to the working directory, so that a daemon started
// in a checkout of exportd finds configs/profiles/tasks.yaml. Unlike a
// configured one, it may be missing.
const DefaultProfilesDir = "configs/profiles"

// Default returns the built-in configuration.
func Default() Config {
	return Config{
		DataDir:                "exportd-data",
		ServerSelectionTimeout: 10 * time.Second, // fail fast, retry in the runner
		HTTPAddr:               "127.0.0.1:8080", // loopback unless told otherwise
		NATS:                   NATSConfig{Listen: "127.0.0.1:4222", Prefix: "exports"},
		MaxConcurrent:          2,   // two cursors already keep a small server busy
		QueueSize:              100, // beyond it, clients hear 503 rather than wait unseen
		Retries:                8,   // about two minutes of backoff: a restart or failover
		ProfilesDir:            DefaultProfilesDir,
		Retention:              7 * 24 * time.Hour, // a week to download
		ShutdownGrace:          30 * time.Second,
		TokenTTL:               time.Hour,
		MaxEventStreams:        100, // a console tab holds one; each costs a goroutine and a little memory
		CountTotal:             true,
		LogLevel:               "info",
		Cluster: ClusterConfig{
			Replicas: 1,                // a single JetStream server; a three-server cluster wants 3
			LeaseTTL: 30 * time.Second, // a dead node's exports resume on another within it
			Bucket:   "EXPORTD_EXPORTS", WorkStream: "EXPORTD_WORK", ProgressStream: "EXPORTD_PROGRESS",
			ProgressMaxAge: 24 * time.Hour,
		},
	}
}

// LoadFile reads a YAML configuration over c; unknown keys are errors. A
// relative path in the file (see paths) is taken relative to the file's
// directory and made absolute, so that the file means the same wherever
// the daemon is started; paths from the defaults, the environment and
// flags stay relative to the working directory.
func (c *Config) LoadFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	decode := func(into *Config) error {
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(into); err != nil && !errors.Is(err, io.EOF) { // io.EOF: an empty file
			return fmt.Errorf("config %s: %w", path, err)
		}
		return nil
	}
	if err := decode(c); err != nil {
		return err
	}
	var own Config // the file alone: which paths it sets
	if err := decode(&own); err != nil {
		return err
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	for i, p := range own.paths() {
		if *p != "" && !filepath.IsAbs(*p) {
			*c.paths()[i] = filepath.Join(dir, *p)
		}
	}
	return nil
}

// paths are c's settings that name a file or a directory, in one order.
func (c *Config) paths() []*string {
	return []*string{
		&c.DataDir, &c.ProfilesDir,
		&c.NATS.CredsFile, &c.NATS.NKeyFile, &c.NATS.TLSCert, &c.NATS.TLSKey, &c.NATS.TLSCA,
	}
}

// LoadEnv applies the EXPORTD_* environment variables over c.
func (c *Config) LoadEnv(getenv func(string) string) {
	set := func(dst *string, name string) {
		if v := getenv(name); v != "" {
			*dst = v
		}
	}
	set(&c.MongoURI, "EXPORTD_MONGO_URI")
	set(&c.DownloadSecret, "EXPORTD_DOWNLOAD_SECRET")
	set(&c.NATS.Token, "EXPORTD_NATS_TOKEN")
	set(&c.APIToken, "EXPORTD_API_TOKEN")
	set(&c.NATS.URL, "EXPORTD_NATS_URL")
	set(&c.DataDir, "EXPORTD_DATA")
	set(&c.Storage, "EXPORTD_STORAGE")
}

// Validate says which setting is wrong.
func (c *Config) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("dataDir: required"))
	}
	if c.MongoURI == "" {
		errs = append(errs, errors.New("mongoUri: required (or EXPORTD_MONGO_URI, --mongo-uri)"))
	}
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		errs = append(errs, fmt.Errorf("httpAddr: %v", err))
	}
	if c.NATS.URL == "" {
		if _, _, err := net.SplitHostPort(c.NATS.Listen); err != nil {
			errs = append(errs, fmt.Errorf("nats.listen: %v", err))
		}
	}
	if c.NATS.URL == "" && c.NATS.CredsFile != "" {
		errs = append(errs, errors.New("nats.credsFile: the embedded server takes a token or an nkey; credentials (JWT) need an external server (nats.url)"))
	}
	if c.NATS.Token != "" && c.NATS.NKeyFile != "" {
		errs = append(errs, errors.New("nats.token, nats.nkeyFile: give one of them"))
	}
	if c.APIToken != "" && len(c.APIToken) < minTokenLen {
		errs = append(errs, fmt.Errorf("apiToken: must be at least %d bytes, got %d", minTokenLen, len(c.APIToken)))
	}
	if c.NATS.Prefix == "" || strings.ContainsAny(c.NATS.Prefix, " *>") {
		errs = append(errs, fmt.Errorf("nats.prefix: %q is not a subject prefix", c.NATS.Prefix))
	}
	if c.MaxConcurrent < 1 {
		errs = append(errs, fmt.Errorf("maxConcurrent: must be at least 1, got %d", c.MaxConcurrent))
	}
	if c.QueueSize < 0 {
		errs = append(errs, fmt.Errorf("queueSize: must not be negative, got %d", c.QueueSize))
	}
	if c.Retries < 0 || c.Workers < 0 || c.MaxEventStreams < 0 {
		errs = append(errs, errors.New("retries, workers, maxEventStreams: must not be negative"))
	}
	for _, ns := range c.Allow {
		if d, coll, ok := strings.Cut(ns, "."); !ok || d == "" || coll == "" {
			errs = append(errs, fmt.Errorf("allow: %q is not db.collection or db.*", ns))
		}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("logLevel: %q is not debug, info, warn or error", c.LogLevel))
	}
	if c.ShutdownGrace <= 0 || c.TokenTTL <= 0 || c.ServerSelectionTimeout <= 0 {
		errs = append(errs, errors.New("shutdownGrace, tokenTtl, serverSelectionTimeout: must be positive"))
	}
	if c.Storage != "" {
		if _, _, err := objstore.ParseURL(c.Storage); err != nil {
			errs = append(errs, fmt.Errorf("storage: %v", err))
		}
	}
	if c.Cluster.Enabled {
		if c.Storage == "" {
			errs = append(errs, errors.New("cluster.enabled: needs storage (an s3:// URL), where every node finds every export's chunks"))
		}
		if err := c.Cluster.jetstream(c.NATS.Prefix).Validate(); err != nil {
			errs = append(errs, fmt.Errorf("cluster: %v", err))
		}
		if c.Cluster.Node != "" && !api.ValidSubjectToken(c.Cluster.Node) {
			errs = append(errs, fmt.Errorf("cluster.node: %q: use letters, digits, '-' and '_'", c.Cluster.Node))
		}
	}
	return errors.Join(errs...)
}

// jetstream is the cluster package's configuration of c.
func (c ClusterConfig) jetstream(prefix string) cluster.Config {
	return cluster.Config{
		Prefix: prefix, Bucket: c.Bucket, WorkStream: c.WorkStream, ProgressStream: c.ProgressStream,
		Replicas: c.Replicas, LeaseTTL: c.LeaseTTL, ProgressMaxAge: c.ProgressMaxAge,
	}
}
