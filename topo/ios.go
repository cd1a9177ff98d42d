package topo

import "fmt"

// Netmask writes an IPv4 prefix length as a dotted mask (24: 255.255.255.0),
// as IOS `ip address` and `ip route` take it, for configurations written
// for a topology's sites.
func Netmask(bits int) string { return dotted(^uint32(0) << (32 - bits)) }

// Wildcard writes an IPv4 prefix length as an IOS wildcard mask
// (24: 0.0.0.255), as access lists take it.
func Wildcard(bits int) string { return dotted(^(^uint32(0) << (32 - bits))) }

func dotted(m uint32) string {
	return fmt.Sprintf("%d.%d.%d.%d", m>>24, m>>16&0xff, m>>8&0xff, m&0xff)
}
