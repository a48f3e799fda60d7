package daemon

import (
	"reflect"
	"regexp"
	"slices"
	"testing"
)

// TestEveryPathResolved: every setting whose key names a file or a
// directory is one of Config.paths, the settings LoadFile resolves
// against the configuration file's directory; a path key added later
// cannot be forgotten there.
func TestEveryPathResolved(t *testing.T) {
	pathKey := regexp.MustCompile(`(Dir|File|Cert|Key|Ca)$`)
	var c Config
	resolved := c.paths()
	var walk func(v reflect.Value, prefix string)
	walk = func(v reflect.Value, prefix string) {
		for i := range v.NumField() {
			f, fv := v.Type().Field(i), v.Field(i)
			key := prefix + f.Tag.Get("yaml")
			switch {
			case f.Type.Kind() == reflect.Struct && f.Type.PkgPath() == reflect.TypeFor[Config]().PkgPath():
				walk(fv, key+".")
			case f.Type.Kind() == reflect.String && pathKey.MatchString(key):
				if !slices.Contains(resolved, fv.Addr().Interface().(*string)) {
					t.Errorf("%s names a path but is not among Config.paths", key)
				}
			}
		}
	}
	walk(reflect.ValueOf(&c).Elem(), "")
}
