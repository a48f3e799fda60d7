package objstore_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/exportd/exportd/internal/s3test"
	"github.com/exportd/exportd/objstore"
)

func TestParseURL(t *testing.T) {
	for _, c := range []struct {
		name, url      string
		bucket, prefix string
		err            string // in the error; "" for none
	}{
		{"bucket only", "s3://exports", "exports", "", ""},
		{"bucket and slash", "s3://exports/", "exports", "", ""},
		{"prefix", "s3://exports/team/daily", "exports", "team/daily", ""},
		{"trailing slash", "s3://exports/team/daily/", "exports", "team/daily", ""},
		{"dots in names", "s3://my.exports/v1.2_x-y", "my.exports", "v1.2_x-y", ""},
		{"no scheme", "exports/team", "", "", `"exports/team" is not an s3://bucket/prefix URL`},
		{"other scheme", "gs://exports/team", "", "", `scheme "gs", want s3://bucket/prefix`},
		{"upper-case scheme", "S3://exports", "", "", `scheme "S3"`},
		{"missing bucket", "s3://", "", "", "has no bucket"},
		{"missing bucket, a prefix", "s3:///team", "", "", "has no bucket"},
		{"upper-case bucket", "s3://Exports/x", "", "", `invalid bucket name "Exports"`},
		{"short bucket", "s3://ab", "", "", `invalid bucket name "ab"`},
		{"bucket with underscore", "s3://my_bucket", "", "", `invalid bucket name "my_bucket"`},
		{"bucket as IP", "s3://192.168.1.1", "", "", `invalid bucket name "192.168.1.1"`},
		{"port", "s3://exports:9000/x", "", "", "no port, user, query or fragment"},
		{"user", "s3://key:SECRET@exports/x", "", "", "no port, user, query or fragment"},
		{"dot-dot segment", "s3://exports/team/../other", "", "", `prefix "team/../other" has a ".." segment`},
		{"dot-dot prefix", "s3://exports/..", "", "", `has a ".." segment`},
		{"dot segment", "s3://exports/./x", "", "", `has a "." segment`},
		{"leading slash", "s3://exports//x", "", "", `prefix "/x" has an empty segment`},
		{"double slash", "s3://exports/a//b", "", "", `prefix "a//b" has an empty segment`},
		{"space", "s3://exports/a b", "", "", `segment "a b" has a character other than`},
		{"query", "s3://exports/a?x=1", "", "", `segment "a?x=1" has a character other than`},
		{"backslash", `s3://exports/a\b`, "", "", "has a character other than"},
	} {
		t.Run(c.name, func(t *testing.T) {
			bucket, prefix, err := objstore.ParseURL(c.url)
			if c.err == "" {
				if err != nil || bucket != c.bucket || prefix != c.prefix {
					t.Fatalf("ParseURL(%q) = %q, %q, %v; want %q, %q", c.url, bucket, prefix, err, c.bucket, c.prefix)
				}
				return
			}
			if !errors.Is(err, objstore.ErrBadURL) || !strings.Contains(err.Error(), c.err) {
				t.Fatalf("ParseURL(%q): %v; want ErrBadURL saying %s", c.url, err, c.err)
			}
			noSecret(t, err.Error(), "SECRET")
		})
	}
}

// awsEnv sets the AWS variables of the test to env, every other one
// unset, with a HOME of its own: no credentials of the machine leak in.
func awsEnv(t *testing.T, env map[string]string) {
	t.Helper()
	t.Setenv("HOME", t.TempDir())
	for _, name := range []string{
		"AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY", "AWS_SECRET_KEY", "AWS_SESSION_TOKEN",
		"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
		"AWS_PROFILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE",
	} {
		t.Setenv(name, env[name])
	}
}

func TestConfigFromEnv(t *testing.T) {
	const secret, token = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "FQoGZXIvYXdzEXAMPLETOKEN"
	keys := map[string]string{"AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE", "AWS_SECRET_ACCESS_KEY": secret, "AWS_SESSION_TOKEN": token}
	with := func(extra map[string]string) map[string]string {
		env := map[string]string{}
		for k, v := range keys {
			env[k] = v
		}
		for k, v := range extra {
			env[k] = v
		}
		return env
	}
	for _, c := range []struct {
		name     string
		env      map[string]string
		endpoint string
		insecure bool
		region   string
		key      string // the access key id the credentials give
		err      string
	}{
		{name: "Amazon S3", env: with(nil), key: "AKIAIOSFODNN7EXAMPLE"},
		{name: "http endpoint", env: with(map[string]string{"AWS_ENDPOINT_URL": "http://127.0.0.1:7070"}),
			endpoint: "127.0.0.1:7070", insecure: true, key: "AKIAIOSFODNN7EXAMPLE"},
		{name: "https endpoint with a slash", env: with(map[string]string{"AWS_ENDPOINT_URL": "https://s3.example.com/"}),
			endpoint: "s3.example.com", key: "AKIAIOSFODNN7EXAMPLE"},
		{name: "the S3 endpoint first", env: with(map[string]string{"AWS_ENDPOINT_URL": "http://other:1", "AWS_ENDPOINT_URL_S3": "https://s3.local:9000"}),
			endpoint: "s3.local:9000", key: "AKIAIOSFODNN7EXAMPLE"},
		{name: "AWS_REGION first", env: with(map[string]string{"AWS_REGION": "eu-west-3", "AWS_DEFAULT_REGION": "us-west-2"}),
			region: "eu-west-3", key: "AKIAIOSFODNN7EXAMPLE"},
		{name: "AWS_DEFAULT_REGION", env: with(map[string]string{"AWS_DEFAULT_REGION": "us-west-2"}),
			region: "us-west-2", key: "AKIAIOSFODNN7EXAMPLE"},
		{name: "no credentials", env: map[string]string{},
			err: "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"},
		{name: "a key without its secret", env: map[string]string{"AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE"},
			err: "no credentials"},
		{name: "endpoint without scheme", env: with(map[string]string{"AWS_ENDPOINT_URL": "127.0.0.1:7070"}),
			err: "AWS_ENDPOINT_URL: objstore: bad URL: endpoint"},
		{name: "ftp endpoint", env: with(map[string]string{"AWS_ENDPOINT_URL_S3": "ftp://files.example.com"}),
			err: `AWS_ENDPOINT_URL_S3: objstore: bad URL: endpoint "ftp://files.example.com" must start with http:// or https://`},
		{name: "endpoint with a path", env: with(map[string]string{"AWS_ENDPOINT_URL": "http://host:1/bucket"}),
			err: "must have no path, query or fragment"},
		{name: "endpoint without host", env: with(map[string]string{"AWS_ENDPOINT_URL": "http://"}),
			err: "has no host"},
		{name: "endpoint with a password", env: with(map[string]string{"AWS_ENDPOINT_URL": "http://user:pass@host:1"}),
			err: `endpoint "http://user:xxxxx@host:1" must not carry a user`},
		{name: "endpoint with a password that has a slash", env: with(map[string]string{"AWS_ENDPOINT_URL": "http://user:" + secret + "@host:1"}),
			err: "AWS_ENDPOINT_URL: objstore: bad URL: endpoint is not a URL"},
		{name: "bad URL", env: with(nil), err: "has a \"..\" segment"},
	} {
		t.Run(c.name, func(t *testing.T) {
			awsEnv(t, c.env)
			url := "s3://exports/daily"
			if c.name == "bad URL" {
				url = "s3://exports/../x"
			}
			cfg, err := objstore.ConfigFromEnv(url)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("ConfigFromEnv: %v, want an error saying %s", err, c.err)
				}
				noSecret(t, err.Error(), secret, token, "pass", secret[:8])
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Bucket != "exports" || cfg.Prefix != "daily" || cfg.Endpoint != c.endpoint || cfg.Insecure != c.insecure || cfg.Region != c.region {
				t.Fatalf("ConfigFromEnv = %+v", cfg)
			}
			v, err := cfg.Credentials.Get()
			if err != nil || v.AccessKeyID != c.key || v.SecretAccessKey != secret || v.SessionToken != token {
				t.Fatalf("credentials: key %q, %v; want key %q with the secret and token", v.AccessKeyID, err, c.key)
			}
			noSecret(t, cfg.String(), secret, token)
		})
	}
}

func TestConfigFromSharedFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "credentials")
	ini := "[default]\naws_access_key_id = DEFAULTKEY\naws_secret_access_key = defaultsecret\n\n" +
		"[ci]\naws_access_key_id = CIKEY\naws_secret_access_key = cisecret\naws_session_token = citoken\n"
	if err := os.WriteFile(file, []byte(ini), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, profile, key, secret string }{
		{"default profile", "", "DEFAULTKEY", "defaultsecret"},
		{"AWS_PROFILE", "ci", "CIKEY", "cisecret"},
	} {
		t.Run(c.name, func(t *testing.T) {
			awsEnv(t, map[string]string{"AWS_SHARED_CREDENTIALS_FILE": file, "AWS_PROFILE": c.profile})
			cfg, err := objstore.ConfigFromEnv("s3://exports")
			if err != nil {
				t.Fatal(err)
			}
			v, err := cfg.Credentials.Get()
			if err != nil || v.AccessKeyID != c.key || v.SecretAccessKey != c.secret {
				t.Fatalf("credentials: key %q, %v; want %q", v.AccessKeyID, err, c.key)
			}
		})
	}
	t.Run("the environment first", func(t *testing.T) {
		awsEnv(t, map[string]string{"AWS_SHARED_CREDENTIALS_FILE": file, "AWS_ACCESS_KEY_ID": "ENVKEY", "AWS_SECRET_ACCESS_KEY": "envsecret"})
		cfg, err := objstore.ConfigFromEnv("s3://exports")
		if err != nil {
			t.Fatal(err)
		}
		if v, _ := cfg.Credentials.Get(); v.AccessKeyID != "ENVKEY" {
			t.Fatalf("credentials: key %q, want ENVKEY", v.AccessKeyID)
		}
	})
}

// TestConfigFromEnvServer uses a Config made from the environment against
// a real server.
func TestConfigFromEnvServer(t *testing.T) {
	srv := s3test.Spawn(t)
	awsEnv(t, map[string]string{
		"AWS_ACCESS_KEY_ID": srv.AccessKey, "AWS_SECRET_ACCESS_KEY": srv.SecretKey,
		"AWS_ENDPOINT_URL": srv.URL(), "AWS_REGION": srv.Region,
	})
	cfg, err := objstore.ConfigFromEnv("s3://" + srv.Bucket + "/env")
	if err != nil {
		t.Fatal(err)
	}
	s, err := objstore.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutManifest(context.Background(), exportID, []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if infos, err := s.List(context.Background(), exportID); err != nil || len(infos) != 1 || infos[0].Key != "env/"+exportID+"/manifest.json" {
		t.Fatalf("List = %+v, %v", infos, err)
	}
}

func TestConfigStringAndValidate(t *testing.T) {
	const secret, token = "SECRET-value-1234567890", "TOKEN-value-0987654321"
	cfg := objstore.Config{
		Endpoint: "127.0.0.1:7070", Insecure: true, Region: "us-east-1", Bucket: "exports", Prefix: "daily",
		AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: secret, SessionToken: token,
	}
	got := cfg.String()
	want := "s3://exports/daily at http://127.0.0.1:7070 (region us-east-1, access key ****MPLE, secret (redacted), session token (redacted))"
	if got != want {
		t.Errorf("String() =\n%s\nwant\n%s", got, want)
	}
	noSecret(t, got, secret, token)

	for _, c := range []struct {
		name string
		edit func(*objstore.Config)
		want error
		msg  string
	}{
		{"valid", func(*objstore.Config) {}, nil, ""},
		{"no bucket", func(c *objstore.Config) { c.Bucket = "" }, objstore.ErrConfig, "Bucket is empty"},
		{"bad bucket", func(c *objstore.Config) { c.Bucket = "A_B" }, objstore.ErrConfig, `Bucket: invalid bucket name "A_B"`},
		{"bad prefix", func(c *objstore.Config) { c.Prefix = "a/../b" }, objstore.ErrConfig, `Prefix: prefix "a/../b" has a ".." segment`},
		{"endpoint with scheme", func(c *objstore.Config) { c.Endpoint = "http://h:1" }, objstore.ErrConfig, "Endpoint must be host[:port]"},
		{"no secret", func(c *objstore.Config) { c.SecretAccessKey = "" }, objstore.ErrNoCredentials, "AccessKeyID and SecretAccessKey"},
		{"small parts", func(c *objstore.Config) { c.PartSize = 1 << 20 }, objstore.ErrConfig, "PartSize 1048576"},
		{"negative retries", func(c *objstore.Config) { c.MaxRetries = -1 }, objstore.ErrConfig, "MaxRetries -1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := cfg
			c.edit(&cfg)
			err := cfg.Validate()
			if !errors.Is(err, c.want) || (err != nil && !strings.Contains(err.Error(), c.msg)) {
				t.Fatalf("Validate: %v, want %v saying %s", err, c.want, c.msg)
			}
			if err != nil {
				noSecret(t, err.Error(), secret, token)
				if _, nerr := objstore.New(context.Background(), cfg); !errors.Is(nerr, c.want) {
					t.Fatalf("New: %v, want %v", nerr, c.want)
				}
			}
		})
	}
}
