// Command gendocs writes the netctl command reference (Markdown, one file
// per command) from the cobra commands, so the docs cannot drift from the
// flags: `make docs`.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra/doc"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/netdoctor/netdoctor/internal/cli"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gendocs DIR")
		os.Exit(2)
	}
	dir := os.Args[1]
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	root := cli.NewRootCommand(genericiooptions.NewTestIOStreamsDiscard(), cli.DefaultDeps())
	root.DisableAutoGenTag = true // no date line: regenerating changes nothing unless flags did
	if err := doc.GenMarkdownTree(root, dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
