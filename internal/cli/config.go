package cli

// config.go is the ONE place where edgeflush resolves configuration. For every flag of
// the executing command that was not given on the command line it takes, in order:
//
//  1. the environment variable EDGEFLUSH_<FLAG_NAME> (upper snake case: --max-paths ->
//     EDGEFLUSH_MAX_PATHS); an empty variable counts as unset; list flags split it at
//     commas;
//  2. the config file's top-level key of the same name (max-paths: 30); list flags take
//     a YAML list or a single scalar.
//
// The config file is --config, else EDGEFLUSH_CONFIG, else .edgeflush.yaml in the
// current directory when it exists. Its `rules` key belongs to the deploy header rules
// and is ignored here; any other key must be the name of some edgeflush flag, so a typo
// is an error instead of a silently ignored setting.

import (
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/edgeflush/edgeflush/internal/siteconfig"
)

// defaultConfigFile is read when it exists and no other config file is named.
const defaultConfigFile = siteconfig.FileName

// envPrefix starts every environment variable that sets a flag.
const envPrefix = "EDGEFLUSH_"

// annotationNoConfig on a command skips config resolution (version, help).
const annotationNoConfig = "edgeflush/no-config"

// annotationCommandLineOnly on a flag keeps it out of the environment and the config
// file: the file and the EDGEFLUSH_* variables are shared by every command, so a flag
// whose name another command uses with another meaning (verify's --all switch beside
// invalidate's --all FILE) is read from the command line alone.
const annotationCommandLineOnly = "edgeflush/command-line-only"

// commandLineOnly marks flag name of fs as read from the command line alone.
func commandLineOnly(fs *pflag.FlagSet, name string) {
	if err := fs.SetAnnotation(name, annotationCommandLineOnly, []string{"true"}); err != nil {
		panic(fmt.Sprintf("edgeflush: flag --%s: %v", name, err)) // a programming error, found by every test
	}
}

// envName returns the environment variable for a flag: max-paths -> EDGEFLUSH_MAX_PATHS.
func envName(flag string) string {
	return envPrefix + strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(flag))
}

// resolveConfig fills every flag of cmd not set on the command line from the
// environment or the config file. It runs before every command (root's PersistentPreRunE).
func (a *app) resolveConfig(cmd *cobra.Command) error {
	// cobra's own help command must work even with a broken config file.
	if cmd.Annotations[annotationNoConfig] != "" || (cmd.Name() == "help" && cmd.Parent() == cmd.Root()) {
		return nil
	}
	flags := cmd.Flags()
	a.sources = map[string]string{}

	// The config file's location itself comes from the flag or the environment only.
	path, explicit := a.configPath, flags.Changed("config")
	if !explicit {
		if v := a.getenv(envName("config")); v != "" {
			path, explicit = v, true
			a.sources["config"] = "env " + envName("config")
		}
	}
	if !explicit {
		path = defaultConfigFile
	}
	settings, err := readSettings(path, explicit)
	if err != nil {
		return &usageError{err}
	}
	if settings != nil {
		a.resolvedConfig, a.configPath = path, path
		a.settings = settings
		if err := checkKnownKeys(path, settings, cmd.Root()); err != nil {
			return &usageError{err}
		}
	}

	var errs []error
	flags.VisitAll(func(f *pflag.Flag) {
		if f.Changed || f.Name == "config" || f.Name == "help" || f.Annotations[annotationCommandLineOnly] != nil {
			return
		}
		env := envName(f.Name)
		if v := a.getenv(env); v != "" {
			var vals []string
			if _, ok := f.Value.(pflag.SliceValue); ok {
				vals = splitList(v)
			} else {
				vals = []string{v}
			}
			if err := setFlag(f, vals); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %w", env, v, err))
				return
			}
			a.sources[f.Name] = "env " + env
			return
		}
		raw, ok := settings[f.Name]
		if !ok {
			return
		}
		vals, err := yamlValues(raw, f)
		if err == nil {
			err = setFlag(f, vals)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("config %s: key %q: %w", path, f.Name, err))
			return
		}
		a.sources[f.Name] = "config " + path
	})
	if len(errs) > 0 {
		return &usageError{errors.Join(errs...)}
	}
	return nil
}

// readSettings reads the config file's top-level keys other than `rules` (through
// siteconfig, which also checks the rules, so a broken file fails every command the
// same way). A missing default file is not an error (nil map); a missing named file is.
func readSettings(path string, explicit bool) (map[string]any, error) {
	cfg, err := siteconfig.Load(path)
	if err != nil {
		if !explicit && errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err // siteconfig's errors already name the file
	}
	if cfg.Settings == nil {
		return map[string]any{}, nil
	}
	return cfg.Settings, nil
}

// checkKnownKeys rejects a config key that is no flag of any edgeflush command: the
// file is shared by all commands, so a key only needs to make sense to one of them.
func checkKnownKeys(path string, settings map[string]any, root *cobra.Command) error {
	known := map[string]bool{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.LocalFlags().VisitAll(func(f *pflag.Flag) { known[f.Name] = true })
		c.PersistentFlags().VisitAll(func(f *pflag.Flag) { known[f.Name] = true })
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(root)
	delete(known, "config")
	delete(known, "help")
	var unknown []string
	for k := range settings {
		if !known[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	names := make([]string, 0, len(known))
	for k := range known {
		names = append(names, k)
	}
	sort.Strings(names)
	return fmt.Errorf("config %s: unknown key(s) %s; top-level keys are flag names (%s) or rules",
		path, strings.Join(unknown, ", "), strings.Join(names, ", "))
}

// splitList splits a comma-separated environment value, dropping empty items.
func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// yamlValues turns a YAML value into flag value strings: a list for list flags, a
// scalar for the others.
func yamlValues(v any, f *pflag.Flag) ([]string, error) {
	_, isSlice := f.Value.(pflag.SliceValue)
	if list, ok := v.([]any); ok {
		if !isSlice {
			return nil, fmt.Errorf("want a single value, not a list")
		}
		out := make([]string, 0, len(list))
		for _, item := range list {
			s, err := yamlScalar(item)
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
		return out, nil
	}
	s, err := yamlScalar(v)
	if err != nil {
		return nil, err
	}
	return []string{s}, nil
}

func yamlScalar(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case bool:
		return strconv.FormatBool(x), nil
	case int:
		return strconv.Itoa(x), nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case time.Time:
		return x.Format(time.RFC3339), nil
	case nil:
		return "", fmt.Errorf("empty value")
	default:
		return "", fmt.Errorf("want a string, number or boolean, not %T", v)
	}
}

// setFlag sets f from vals (replacing a list flag's default) and marks it changed.
func setFlag(f *pflag.Flag, vals []string) error {
	if sv, ok := f.Value.(pflag.SliceValue); ok {
		if err := sv.Replace(vals); err != nil {
			return err
		}
		f.Changed = true
		return nil
	}
	if len(vals) != 1 {
		return fmt.Errorf("want one value")
	}
	if err := f.Value.Set(vals[0]); err != nil {
		return err
	}
	f.Changed = true
	return nil
}
