package strongswan

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// plugins renders extra plugin names for the load line.
func plugins(names []string) string {
	if len(names) == 0 {
		return ""
	}
	return " " + strings.Join(names, " ")
}

// logLevels renders the filelog subsystem levels: ike, chd and net at
// level, cfg at 2, then the overrides (sorted, so the file is stable).
func logLevels(level int, override map[string]int) string {
	levels := map[string]int{"ike": level, "cfg": 2, "chd": level, "net": level}
	maps.Copy(levels, override)
	var b strings.Builder
	for _, k := range []string{"ike", "cfg", "chd", "net"} {
		fmt.Fprintf(&b, "      %s = %d\n", k, levels[k])
		delete(levels, k)
	}
	for _, k := range slices.Sorted(maps.Keys(levels)) {
		fmt.Fprintf(&b, "      %s = %d\n", k, levels[k])
	}
	return b.String()
}

// ChildList returns the IKE SA's CHILD_SAs (IPsec SAs under IKEv1) oldest
// first, by charon's unique id.
func (sa IKESA) ChildList() []ChildSA {
	l := slices.Collect(maps.Values(sa.Children))
	slices.SortFunc(l, func(a, b ChildSA) int {
		x, _ := strconv.Atoi(a.UniqueID)
		y, _ := strconv.Atoi(b.UniqueID)
		return x - y
	})
	return l
}
