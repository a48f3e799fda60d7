package objstore

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Config says where a Store keeps its objects and how it signs in.
type Config struct {
	// Endpoint is the server's host[:port], without a scheme; empty means
	// Amazon S3 (s3.amazonaws.com).
	Endpoint string `yaml:"endpoint"`
	// Insecure talks plain HTTP to Endpoint instead of HTTPS.
	Insecure bool `yaml:"insecure"`
	// Region is the bucket's region; empty lets the client ask the server.
	Region string `yaml:"region"`
	// Bucket holds the exports.
	Bucket string `yaml:"bucket"`
	// Prefix is the key prefix of every export, without leading or trailing
	// slashes; empty puts the exports at the top of the bucket.
	Prefix string `yaml:"prefix"`

	// AccessKeyID, SecretAccessKey and SessionToken are static credentials,
	// used when Credentials is nil.
	AccessKeyID     string `yaml:"accessKeyID"`
	SecretAccessKey string `yaml:"secretAccessKey"`
	SessionToken    string `yaml:"sessionToken"`
	// Credentials, when set, is asked for the credentials of each request
	// instead of the static ones, so that expiring ones are renewed
	// (ConfigFromEnv sets it).
	Credentials *credentials.Credentials `yaml:"-"`

	// PartSize is the largest chunk sent in one PUT; a larger one is sent
	// as a multipart upload in parts of this size. 0 means 64 MiB.
	PartSize int64 `yaml:"partSize"`
	// MaxRetries is how many times a failed request is tried in all; 0
	// means minio-go's default (10), 1 means no retries.
	MaxRetries int `yaml:"maxRetries"`
	// Transport carries the requests; nil means minio-go's default.
	Transport http.RoundTripper `yaml:"-"`
}

const (
	// defaultPartSize keeps chunks of the usual sizes (a few to tens of
	// MiB) in one PUT, one request and one server-verified checksum, while
	// a multipart upload of a large chunk holds no more than one part in
	// flight.
	defaultPartSize = 64 << 20
	// minPartSize and maxPartSize are S3's limits on a part (the last one
	// may be smaller).
	minPartSize = 5 << 20
	maxPartSize = 5 << 30
)

// applyDefaults fills the fields whose zero value stands for a default.
func (c *Config) applyDefaults() {
	if c.Endpoint == "" {
		c.Endpoint = "s3.amazonaws.com" // minio-go picks the regional endpoint from it
	}
	if c.PartSize == 0 {
		c.PartSize = defaultPartSize
	}
}

// Validate says which field is wrong, if one is.
func (c *Config) Validate() error {
	if strings.Contains(c.Endpoint, "/") || strings.Contains(c.Endpoint, "@") {
		return fmt.Errorf("%w: Endpoint must be host[:port] without a scheme, path or user", ErrConfig)
	}
	if c.Bucket == "" {
		return fmt.Errorf("%w: Bucket is empty", ErrConfig)
	}
	if err := checkBucket(c.Bucket); err != nil {
		return fmt.Errorf("%w: Bucket: %w", ErrConfig, err)
	}
	if err := checkPrefix(c.Prefix); err != nil {
		return fmt.Errorf("%w: Prefix: %w", ErrConfig, err)
	}
	if c.Credentials == nil && (c.AccessKeyID == "" || c.SecretAccessKey == "") {
		return fmt.Errorf("%w: AccessKeyID and SecretAccessKey are both needed (or Credentials)", ErrNoCredentials)
	}
	if c.PartSize != 0 && (c.PartSize < minPartSize || c.PartSize > maxPartSize) {
		return fmt.Errorf("%w: PartSize %d is outside S3's 5 MiB to 5 GiB", ErrConfig, c.PartSize)
	}
	if c.MaxRetries < 0 {
		return fmt.Errorf("%w: MaxRetries %d is negative", ErrConfig, c.MaxRetries)
	}
	return nil
}

// String describes the configuration without its secrets: the access key
// id shows only its last four characters.
func (c Config) String() string {
	scheme := "https"
	if c.Insecure {
		scheme = "http"
	}
	endpoint := c.Endpoint
	if endpoint == "" {
		endpoint = "s3.amazonaws.com"
	}
	creds := "credentials from a provider"
	if c.Credentials == nil {
		creds = "access key " + keyHint(c.AccessKeyID) + ", secret " + redact(c.SecretAccessKey)
		if c.SessionToken != "" {
			creds += ", session token " + redact(c.SessionToken)
		}
	}
	loc := "s3://" + c.Bucket
	if c.Prefix != "" {
		loc += "/" + c.Prefix
	}
	region := c.Region
	if region == "" {
		region = "asked of the server"
	}
	return fmt.Sprintf("%s at %s://%s (region %s, %s)", loc, scheme, endpoint, region, creds)
}

// keyHint shows the last four characters of an access key id, as the AWS
// CLI does, enough to tell keys apart.
func keyHint(id string) string {
	if len(id) <= 4 {
		return redact(id)
	}
	return "****" + id[len(id)-4:]
}

// redact shows whether a secret is set, never any of it.
func redact(secret string) string {
	if secret == "" {
		return "(none)"
	}
	return "(redacted)"
}

// ConfigFromEnv makes the Config of an s3://bucket/prefix URL from the
// environment, as the AWS tools read it: the endpoint from
// AWS_ENDPOINT_URL_S3 or else AWS_ENDPOINT_URL (http:// means Insecure;
// none means Amazon S3), the region from AWS_REGION or else
// AWS_DEFAULT_REGION, and the credentials from AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN or else from the shared
// credentials file (AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials,
// profile AWS_PROFILE or "default"; a credential_process there is run, as
// the AWS CLI runs it). It fails when neither has a key.
func ConfigFromEnv(rawURL string) (Config, error) {
	bucket, prefix, err := ParseURL(rawURL)
	if err != nil {
		return Config{}, err
	}
	cfg := Config{Bucket: bucket, Prefix: prefix}
	for _, name := range []string{"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"} {
		if v := os.Getenv(name); v != "" {
			cfg.Endpoint, cfg.Insecure, err = parseEndpoint(v)
			if err != nil {
				return Config{}, fmt.Errorf("%s: %w", name, err)
			}
			break
		}
	}
	cfg.Region = os.Getenv("AWS_REGION")
	if cfg.Region == "" {
		cfg.Region = os.Getenv("AWS_DEFAULT_REGION")
	}
	cfg.Credentials = credentials.NewChainCredentials([]credentials.Provider{
		&credentials.EnvAWS{},
		&credentials.FileAWSCredentials{}, // its defaults are the AWS tools'
	})
	v, err := cfg.Credentials.Get()
	if err == nil && (v.AccessKeyID == "" || v.SecretAccessKey == "") {
		err = errors.New("none found")
	}
	if err != nil {
		return Config{}, fmt.Errorf("%w: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile in the shared credentials file (AWS_SHARED_CREDENTIALS_FILE, AWS_PROFILE)", ErrNoCredentials)
	}
	return cfg, nil
}

// parseEndpoint reads an endpoint URL: http:// or https://, a host, no
// path, query or user. Its errors show the URL without a password.
func parseEndpoint(raw string) (host string, insecure bool, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		// Neither the URL nor url.Parse's reason: both can hold a piece of
		// a password (a "/" in it cuts the user part short).
		return "", false, fmt.Errorf("%w: endpoint is not a URL of the form http(s)://host[:port]", ErrBadURL)
	}
	shown := u.Redacted()
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", false, fmt.Errorf("%w: endpoint %q must start with http:// or https://", ErrBadURL, shown)
	case u.User != nil:
		return "", false, fmt.Errorf("%w: endpoint %q must not carry a user", ErrBadURL, shown)
	case u.Host == "":
		return "", false, fmt.Errorf("%w: endpoint %q has no host", ErrBadURL, shown)
	case u.Path != "" && u.Path != "/", u.RawQuery != "", u.Fragment != "":
		return "", false, fmt.Errorf("%w: endpoint %q must have no path, query or fragment", ErrBadURL, shown)
	}
	return u.Host, u.Scheme == "http", nil
}
