package afxdp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Offloads the gateway switches off on its interfaces while it owns them,
// and restores on Close. Frames must reach the fast path as they were on the
// wire:
//   - receive merging (LRO, hardware GRO, GRO, fraglist GRO) would hand
//     generic-mode XDP, and on some NICs native XDP, one frame of many
//     packets: larger than a chunk, and not what the peer sent;
//   - VLAN tag stripping would take the 802.1Q tag out of the frame into
//     driver metadata the fast path never sees.
var (
	mergingFeatures = []string{"rx-lro", "rx-gro-hw", "rx-gro", "rx-gro-list"}
	vlanFeatures    = []string{"rx-vlan-hw-parse", "rx-vlan-stag-hw-parse"}
)

const (
	ethSSFeatures = 4  // ETH_SS_FEATURES
	ethGStringLen = 32 // ETH_GSTRING_LEN
)

// offloads records which features we switched off on a device. Its
// socket, opened in the device's network namespace, keeps ethtool requests
// there whichever thread restores them.
type offloads struct {
	fd      int
	dev     string
	changed []string
}

// disableOffloads switches the merging and VLAN-stripping features off on
// dev. Merging that cannot be switched off is an error; fixed VLAN
// stripping is not (most such devices cannot strip anyway).
func disableOffloads(dev string) (_ *offloads, err error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	o := &offloads{fd: fd, dev: dev}
	defer func() {
		if err != nil {
			o.restore()
		}
	}()
	t, err := readFeatures(fd, dev)
	if err != nil {
		return nil, err
	}
	var fixed []string
	for _, name := range append(append([]string(nil), mergingFeatures...), vlanFeatures...) {
		i, ok := t.index[name]
		if !ok || !t.active(i) {
			continue
		}
		if !t.changeable(i) {
			if !slices.Contains(vlanFeatures, name) {
				fixed = append(fixed, name)
			}
			continue
		}
		o.changed = append(o.changed, name)
	}
	if len(fixed) > 0 {
		o.changed = nil
		return nil, fmt.Errorf("afxdp: %s: %s cannot be switched off; frames would reach the fast path merged", dev, strings.Join(fixed, ", "))
	}
	if err := t.set(fd, o.changed, false); err != nil {
		o.changed = nil
		return nil, err
	}
	if t, err = readFeatures(fd, dev); err != nil {
		return nil, err
	}
	for _, name := range o.changed {
		if t.active(t.index[name]) {
			return nil, fmt.Errorf("afxdp: %s: %s stayed on", dev, name)
		}
	}
	return o, nil
}

// restore switches back on what disableOffloads switched off.
func (o *offloads) restore() error {
	if o == nil || o.fd < 0 {
		return nil
	}
	defer func() {
		unix.Close(o.fd)
		o.fd, o.changed = -1, nil
	}()
	if len(o.changed) == 0 {
		return nil
	}
	t, err := readFeatures(o.fd, o.dev)
	if err != nil {
		return err
	}
	return t.set(o.fd, o.changed, true)
}

// featureTable is a device's ethtool feature set (ETHTOOL_GFEATURES) and
// the names of its bits (ETH_SS_FEATURES strings).
type featureTable struct {
	dev    string
	index  map[string]int
	blocks []byte // per 32 features: available, requested, active, never_changed
}

func (t *featureTable) word(i, field int) uint32 {
	return binary.NativeEndian.Uint32(t.blocks[(i/32)*16+field*4:])
}
func (t *featureTable) changeable(i int) bool { return t.word(i, 0)&(1<<(i%32)) != 0 }
func (t *featureTable) active(i int) bool     { return t.word(i, 2)&(1<<(i%32)) != 0 }

func readFeatures(fd int, dev string) (*featureTable, error) {
	info := make([]byte, 20) // cmd, reserved, sset_mask, data[1]
	binary.NativeEndian.PutUint32(info, unix.ETHTOOL_GSSET_INFO)
	binary.NativeEndian.PutUint64(info[8:], 1<<ethSSFeatures)
	if err := ethtool(fd, dev, info); err != nil {
		return nil, fmt.Errorf("afxdp: %s: ethtool string set info: %w", dev, err)
	}
	if binary.NativeEndian.Uint64(info[8:]) == 0 {
		return nil, fmt.Errorf("afxdp: %s: device reports no feature names", dev)
	}
	n := int(binary.NativeEndian.Uint32(info[16:]))

	strs := make([]byte, 12+n*ethGStringLen)
	binary.NativeEndian.PutUint32(strs, unix.ETHTOOL_GSTRINGS)
	binary.NativeEndian.PutUint32(strs[4:], ethSSFeatures)
	binary.NativeEndian.PutUint32(strs[8:], uint32(n))
	if err := ethtool(fd, dev, strs); err != nil {
		return nil, fmt.Errorf("afxdp: %s: ethtool feature names: %w", dev, err)
	}
	t := &featureTable{dev: dev, index: make(map[string]int, n)}
	for i := range n {
		s := strs[12+i*ethGStringLen : 12+(i+1)*ethGStringLen]
		if j := strings.IndexByte(string(s), 0); j >= 0 {
			s = s[:j]
		}
		t.index[string(s)] = i
	}

	nb := (n + 31) / 32
	feat := make([]byte, 8+nb*16)
	binary.NativeEndian.PutUint32(feat, unix.ETHTOOL_GFEATURES)
	binary.NativeEndian.PutUint32(feat[4:], uint32(nb))
	if err := ethtool(fd, dev, feat); err != nil {
		return nil, fmt.Errorf("afxdp: %s: ethtool features: %w", dev, err)
	}
	t.blocks = feat[8:]
	return t, nil
}

// set requests the named features on or off (ETHTOOL_SFEATURES).
func (t *featureTable) set(fd int, names []string, on bool) error {
	if len(names) == 0 {
		return nil
	}
	nb := len(t.blocks) / 16
	req := make([]byte, 8+nb*8) // cmd, size, per block: valid, requested
	binary.NativeEndian.PutUint32(req, unix.ETHTOOL_SFEATURES)
	binary.NativeEndian.PutUint32(req[4:], uint32(nb))
	for _, name := range names {
		i, ok := t.index[name]
		if !ok {
			return fmt.Errorf("afxdp: %s: no feature %q", t.dev, name)
		}
		valid := req[8+(i/32)*8:]
		binary.NativeEndian.PutUint32(valid, binary.NativeEndian.Uint32(valid)|1<<(i%32))
		if on {
			requested := req[8+(i/32)*8+4:]
			binary.NativeEndian.PutUint32(requested, binary.NativeEndian.Uint32(requested)|1<<(i%32))
		}
	}
	if err := ethtool(fd, t.dev, req); err != nil {
		state := "off"
		if on {
			state = "on"
		}
		return fmt.Errorf("afxdp: %s: switching %s %s: %w", t.dev, strings.Join(names, ", "), state, err)
	}
	return nil
}

// ethtool issues SIOCETHTOOL with data as the command buffer.
func ethtool(fd int, dev string, data []byte) error {
	var ifr struct {
		name [unix.IFNAMSIZ]byte
		data unsafe.Pointer
		_    [24 - unsafe.Sizeof(uintptr(0))]byte
	}
	if len(dev) >= unix.IFNAMSIZ {
		return errors.New("interface name too long")
	}
	copy(ifr.name[:], dev)
	ifr.data = unsafe.Pointer(&data[0])
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr)))
	if e != 0 {
		return e
	}
	return nil
}

// channels returns the device's current RX and TX queue counts
// (ETHTOOL_GCHANNELS), which may be fewer than it was created with.
func channels(fd int, dev string) (rx, tx int, err error) {
	ch := make([]byte, 36) // cmd, max_rx, max_tx, max_other, max_combined, rx, tx, other, combined
	binary.NativeEndian.PutUint32(ch, unix.ETHTOOL_GCHANNELS)
	if err := ethtool(fd, dev, ch); err != nil {
		return 0, 0, err
	}
	combined := int(binary.NativeEndian.Uint32(ch[32:]))
	return combined + int(binary.NativeEndian.Uint32(ch[20:])), combined + int(binary.NativeEndian.Uint32(ch[24:])), nil
}
