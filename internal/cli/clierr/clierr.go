// Package clierr carries exit codes from commands to cli.Main, so every
// command decides its code and Main prints each error exactly once.
package clierr

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// Exit codes of netctl.
const (
	// OK: every checked pair succeeded.
	OK = 0
	// Failed: some pair FAILED or was an EXCEPTION, or the run was interrupted.
	Failed = 1
	// Usage: bad flags, bad config, or a setup error before any result.
	Usage = 2
)

// ExitError is an error with the process exit code it calls for. A nil Err
// means "exit with Code, print nothing" (the results already said it).
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// UsageError marks err as a usage, config or setup error (exit 2).
func UsageError(err error) error {
	if err == nil {
		return nil
	}
	return &ExitError{Code: Usage, Err: err}
}

// Usagef is UsageError(fmt.Errorf(...)).
func Usagef(format string, a ...any) error {
	return UsageError(fmt.Errorf(format, a...))
}

// Silent exits with code without printing anything more.
func Silent(code int) error {
	return &ExitError{Code: code}
}

// Code returns the exit code for err: ExitError's code, else 1.
func Code(err error) int {
	if err == nil {
		return OK
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	return Failed
}

// Format renders err for stderr as "error: <msg>\n"; "" for a Silent error.
func Format(err error) string {
	var ee *ExitError
	if errors.As(err, &ee) && ee.Err == nil {
		return ""
	}
	return "error: " + err.Error() + "\n"
}

// Problems puts a context header on err. A joined error (errors.Join, e.g.
// every config problem) becomes one indented line per problem under the
// header; a single problem stays on the header's line.
func Problems(header string, err error) error {
	if err == nil {
		return nil
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) == 1 {
		return fmt.Errorf("%s: %w", header, err)
	}
	return &problemsError{msg: header + ":\n  " + strings.Join(lines, "\n  "), err: err}
}

type problemsError struct {
	msg string
	err error
}

func (e *problemsError) Error() string { return e.msg }
func (e *problemsError) Unwrap() error { return e.err }

// NoArgs rejects positional arguments as a usage error, naming the command.
func NoArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return Usagef("%q takes no arguments, got %q; see '%s --help'", cmd.CommandPath(), args, cmd.CommandPath())
	}
	return nil
}
