package app

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/netdoctor/netdoctor/sandbox/internal/cluster"
	"github.com/netdoctor/netdoctor/sandbox/internal/fault"
	"github.com/netdoctor/netdoctor/sandbox/internal/state"
)

func faultHelp() string {
	var kinds []string
	for k := range fault.Kinds {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	var b strings.Builder
	b.WriteString("Faults (real kernel mechanisms in the node namespaces; remove restores exactly):\n")
	for _, k := range kinds {
		fmt.Fprintf(&b, "  %-15s %s\n", k, fault.Kinds[k])
	}
	b.WriteString("\nExit code 3: the fault needs a kernel feature this machine lacks (e.g. tc netem for delay, a per-netns nf_conntrack_max for conntrack-full); nothing changed.")
	return b.String()
}

func newFaultCommand(out, errOut io.Writer) *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "fault add|remove|list --name NAME ...",
		Short: "Inject, remove and list network faults",
		Long:  faultHelp(),
	}
	cmd.PersistentFlags().StringVar(&name, "name", "", "cluster name")
	cmd.MarkPersistentFlagRequired("name")
	// withState loads the state under the machine lock and saves it after fn.
	withState := func(fn func(*state.State) error) error {
		unlock, err := state.Lock()
		if err != nil {
			return err
		}
		defer unlock()
		s, err := state.Load(name)
		if err != nil {
			return fmt.Errorf("%w: %w", cluster.ErrBadInput, err)
		}
		if err := fn(s); err != nil {
			return err
		}
		return s.Save()
	}
	add := &cobra.Command{
		Use:   "add KIND ARGS...",
		Short: "Inject a fault",
		Long:  faultHelp(),
		RunE: func(c *cobra.Command, args []string) error {
			sp, err := fault.Parse(args)
			if err != nil {
				return err
			}
			return withState(func(s *state.State) error {
				f, err := fault.Add(c.Context(), s, sp)
				if err != nil {
					return err
				}
				fmt.Fprintf(out, "fault added: %s (%d kernel changes)\n", f.ID, len(f.Changes))
				return nil
			})
		},
	}
	remove := &cobra.Command{
		Use:   "remove KIND ARGS...|--all",
		Short: "Remove a fault (same words as add)",
		RunE: func(c *cobra.Command, args []string) error {
			all, _ := c.Flags().GetBool("all")
			if !all && len(args) == 0 {
				return fmt.Errorf("%w: name the fault to remove (as listed by fault list) or use --all", cluster.ErrBadInput)
			}
			return withState(func(s *state.State) error {
				if all {
					for len(s.Faults) > 0 {
						id := s.Faults[len(s.Faults)-1].ID
						if err := fault.Remove(c.Context(), s, len(s.Faults)-1); err != nil {
							return err
						}
						fmt.Fprintf(out, "fault removed: %s\n", id)
					}
					return nil
				}
				i, err := fault.Find(s, args)
				if err != nil {
					return err
				}
				id := s.Faults[i].ID
				if err := fault.Remove(c.Context(), s, i); err != nil {
					return err
				}
				fmt.Fprintf(out, "fault removed: %s\n", id)
				return nil
			})
		},
	}
	remove.Flags().Bool("all", false, "remove every active fault")
	list := &cobra.Command{
		Use:   "list",
		Short: "List active faults",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			s, err := state.Load(name)
			if err != nil {
				return fmt.Errorf("%w: %w", cluster.ErrBadInput, err)
			}
			for _, f := range s.Faults {
				var where []string
				for _, ch := range f.Changes {
					where = append(where, ch.Netns+":"+ch.Type)
				}
				fmt.Fprintf(out, "%s\t%s\n", f.ID, strings.Join(where, " "))
			}
			return nil
		},
	}
	cmd.AddCommand(add, remove, list)
	return cmd
}
