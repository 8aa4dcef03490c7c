// Package diagnose holds the rules on node facts (routes, link MTUs,
// conntrack, neighbour tables, sysctls, pod veths) that `netctl diagnose`
// reads from the host-network agents. The analysis of a check's rows
// (culprit node, link, direction) is package analysis.
package diagnose
