package cliutil

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// NoArgs refuses any argument (exit 2), suggesting the flag an argument
// looks like: `twitchauth token validate X` → did you mean --validate?
func NoArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	return unexpected(cmd, args[0], cmd.CommandPath()+" takes no arguments")
}

// ExactArgs wants exactly the arguments named (such as "NAME"), no more.
func ExactArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < len(names) {
			return Exitf(ExitUsage, "%s needs %s: see %s --help", cmd.CommandPath(), strings.Join(names[len(args):], " "), cmd.CommandPath())
		}
		if len(args) > len(names) {
			return unexpected(cmd, args[len(names)], cmd.CommandPath()+" takes "+strings.Join(names, " ")+" only")
		}
		for i, a := range args {
			if strings.TrimSpace(a) == "" {
				return Exitf(ExitUsage, "%s: %s is empty", cmd.CommandPath(), names[i])
			}
		}
		return nil
	}
}

// MinArgs wants at least one argument, named what.
func MinArgs(what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return Exitf(ExitUsage, "%s needs %s: see %s --help", cmd.CommandPath(), what, cmd.CommandPath())
		}
		return nil
	}
}

// MaxArgs allows at most the arguments named.
func MaxArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) > len(names) {
			return unexpected(cmd, args[len(names)], cmd.CommandPath()+" takes at most "+strings.Join(names, " "))
		}
		return nil
	}
}

func unexpected(cmd *cobra.Command, arg, why string) error {
	msg := fmt.Sprintf("unexpected argument %q: %s", arg, why)
	if s := suggestFlags(cmd, strings.TrimLeft(arg, "-")); len(s) > 0 {
		msg += "; did you mean " + strings.Join(s, " or ") + "?"
	} else {
		msg += " (see " + cmd.CommandPath() + " --help)"
	}
	return Exit(ExitUsage, errors.New(msg))
}

// Group is the RunE of a command that only holds subcommands: without
// one it prints its help on stderr and exits 2; with an unknown one it
// exits 2 suggesting the closest.
func Group(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		cmd.SetOut(cmd.ErrOrStderr())
		_ = cmd.Help()
		return Exitf(ExitUsage, "%s needs a command: %s", cmd.CommandPath(), strings.Join(subcommands(cmd), ", "))
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2
	}
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += "; did you mean " + strings.Join(s, " or ") + "?"
	} else {
		msg += ": use " + strings.Join(subcommands(cmd), ", ")
	}
	return Exit(ExitUsage, errors.New(msg))
}

func subcommands(cmd *cobra.Command) []string {
	var out []string
	for _, c := range cmd.Commands() {
		if c.IsAvailableCommand() && c.Name() != "help" && c.Name() != "completion" {
			out = append(out, c.Name())
		}
	}
	return out
}

// FlagError is the root's flag error function: every flag error exits 2;
// an empty value says what the flag needs ("--revoke needs a token"), an
// unknown flag suggests the closest.
func FlagError(cmd *cobra.Command, err error) error {
	var ive *pflag.InvalidValueError
	var empty *EmptyValueError
	if errors.As(err, &ive) && errors.As(err, &empty) {
		return Exitf(ExitUsage, "--%s %s", ive.GetFlag().Name, empty.Error())
	}
	var ne *pflag.NotExistError
	if errors.As(err, &ne) {
		if s := suggestFlags(cmd, ne.GetSpecifiedName()); len(s) > 0 && len(ne.GetSpecifiedName()) > 1 {
			return Exitf(ExitUsage, "%v; did you mean %s?", err, strings.Join(s, " or "))
		}
	}
	return Exitf(ExitUsage, "%v (see %s --help)", err, cmd.CommandPath())
}

// suggestFlags returns the visible flags of cmd whose names are close to
// typed.
func suggestFlags(cmd *cobra.Command, typed string) []string {
	if typed == "" {
		return nil
	}
	var out []string
	cmd.Flags().VisitAll(func(fl *pflag.Flag) {
		if fl.Hidden {
			return
		}
		if d := distance(strings.ToLower(typed), fl.Name); d <= 2 || (len(typed) > 2 && strings.HasPrefix(fl.Name, typed)) {
			out = append(out, "--"+fl.Name)
		}
	})
	sort.Strings(out)
	return out
}

// distance is the Levenshtein distance of a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
