package control

import (
	"encoding/json"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// tables is a Backend with one fixed answer per command, for testing the
// server and client themselves; the real backend (slowpath.Ops) is tested
// through them in slowpath and cmd/ipsecgw.
type tables struct{ explained chan ExplainRequest }

func (tables) CryptoMaps(f MapFilter) ([]CryptoMapSet, error) {
	if f.Tag != "" && f.Tag != "vpn" {
		return nil, errors.New("no crypto map " + f.Tag)
	}
	return []CryptoMapSet{{Name: "vpn", Interfaces: []string{"outside"}}}, nil
}
func (tables) IPsecSAs(SAFilter) ([]SAFlow, error)             { return []SAFlow{{Map: "vpn", Seq: 10}}, nil }
func (tables) IKEv2SAs() ([]IKEv2SA, error)                    { return nil, nil }
func (tables) ISAKMPSAs() ([]ISAKMPSA, error)                  { return nil, nil }
func (tables) TransformSets(TagFilter) ([]TransformSet, error) { return nil, nil }
func (tables) DynamicMaps(TagFilter) ([]DynamicMap, error)     { return nil, nil }
func (tables) RunningConfig() (*RunningConfig, error) {
	return &RunningConfig{Text: "hostname a\n"}, nil
}
func (tables) Debugging() ([]DebugState, error)         { return nil, nil }
func (tables) ClearSA(ClearSA) (*Cleared, error)        { return &Cleared{}, nil }
func (tables) ClearSession() (*Cleared, error)          { return &Cleared{}, nil }
func (tables) Debug(DebugRequest) ([]DebugState, error) { return nil, nil }
func (tables) Reload() (*ReloadResult, error)           { return &ReloadResult{Applied: true}, nil }
func (b tables) Explain(r ExplainRequest) (*Explanation, error) {
	select {
	case b.explained <- r:
	default:
	}
	return &Explanation{}, nil
}

func start(t *testing.T) (*Server, *Client) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gw.sock")
	s, err := Start(path, tables{make(chan ExplainRequest, 1)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, &Client{Path: path, Timeout: 5 * time.Second}
}

// TestSocket: the socket is the owner's only, answers commands, and is
// removed on Close.
func TestSocket(t *testing.T) {
	s, c := start(t)
	fi, err := os.Lstat(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&fs.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want a socket with 0600", fi.Mode())
	}
	var sets []CryptoMapSet
	if err := c.Call(CmdShowCryptoMap, MapFilter{Tag: "vpn"}, &sets); err != nil || len(sets) != 1 || sets[0].Name != "vpn" {
		t.Errorf("show crypto map tag vpn: %v %+v", err, sets)
	}
	if err := c.Call(CmdShowCryptoMap, MapFilter{Tag: "other"}, nil); err == nil || err.Error() != "no crypto map other" {
		t.Errorf("the backend's error should reach the client as it is: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(s.Path()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket left behind after Close: %v", err)
	}
	if err := c.Call(CmdShowIPsecSA, nil, nil); !errors.Is(err, ErrNoGateway) {
		t.Errorf("after Close: %v, want ErrNoGateway", err)
	}
}

// TestStart: a stale socket (a gateway that died) is replaced; a socket a
// gateway answers on, a file that is not a socket and a missing directory
// are errors that say so.
func TestStart(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, "stale.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	s, err := Start(stale, tables{}, nil)
	if err != nil {
		t.Fatalf("stale socket: %v", err)
	}
	defer s.Close()
	if _, err := Start(stale, tables{}, nil); err == nil || !strings.Contains(err.Error(), "another gateway is listening on it") {
		t.Errorf("second gateway on a live socket: %v", err)
	}
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o600)
	if _, err := Start(file, tables{}, nil); err == nil || !strings.Contains(err.Error(), "is not a socket") {
		t.Errorf("regular file: %v", err)
	}
	if _, err := Start(filepath.Join(dir, "nosuch", "gw.sock"), tables{}, nil); err == nil {
		t.Error("socket in a missing directory: no error")
	}
}

// exchange sends raw bytes as one request and decodes the answer.
func exchange(t *testing.T, path string, raw []byte) Response {
	t.Helper()
	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write(raw)
	conn.(*net.UnixConn).CloseWrite()
	var resp Response
	if err := json.NewDecoder(conn).Decode(&resp); err != nil {
		t.Fatalf("answer to %q: %v", raw, err)
	}
	return resp
}

// TestProtocolErrors: requests the server cannot use get an answer that
// says why, in the current protocol version.
func TestProtocolErrors(t *testing.T) {
	s, _ := start(t)
	for _, c := range []struct {
		raw  string
		want string
	}{
		{"not json", "malformed request"},
		{`{"version": 2, "command": "reload"}`, "protocol version mismatch: peer speaks version 2"},
		{`{"version": 1, "command": "show everything"}`, `unknown command "show everything"`},
		{`{"version": 1, "command": "show crypto map", "args": {"tag": 7}}`, "malformed arguments"},
		{`{"version": 1, "command": "show crypto map", "args": "` + strings.Repeat("x", maxRequest) + `"}`, "malformed request"},
	} {
		resp := exchange(t, s.Path(), []byte(c.raw))
		if resp.Version != Version || !strings.Contains(resp.Error, c.want) || resp.Data != nil {
			t.Errorf("%.60q: %+v, want an error with %q", c.raw, resp, c.want)
		}
	}
	// The client checks the version of the answer too.
	if err := (&Client{Path: s.Path()}).Call(CmdReload, nil, nil); err != nil {
		t.Errorf("reload: %v", err)
	}
}

// TestArgsReachBackend: the client's arguments arrive in the backend as
// they were sent.
func TestArgsReachBackend(t *testing.T) {
	s, c := start(t)
	want := ExplainRequest{In: "inside", Src: "10.1.1.10", Dst: "10.2.1.10", Proto: 6, SrcPort: 1, DstPort: 443, PeerConfig: "/etc/peer.yaml"}
	if err := c.Call(CmdExplain, want, nil); err != nil {
		t.Fatal(err)
	}
	if got := <-s.backend.(tables).explained; got != want {
		t.Errorf("backend got %+v, want %+v", got, want)
	}
}

// FuzzServe feeds arbitrary bytes to the server as a request: it always
// answers with a response of its protocol version, never panics.
func FuzzServe(f *testing.F) {
	for _, seed := range []string{
		`{"version":1,"command":"show crypto map","args":{"tag":"vpn"}}`,
		`{"version":1,"command":"show crypto ipsec sa","args":{"peer":"192.0.2.2","detail":true}}`,
		`{"version":1,"command":"explain","args":{"in":"inside","src":"10.1.1.1","dst":"10.2.1.1","proto":6}}`,
		`{"version":1,"command":"clear crypto sa","args":{"dst":"192.0.2.1","protocol":"esp","spi":4096}}`,
		`{"version":1,"command":"reload"}`, `{"version":0}`, `{}`, `[]`, `{"args":null}`, "",
	} {
		f.Add([]byte(seed))
	}
	path := filepath.Join(f.TempDir(), "gw.sock")
	s, err := Start(path, tables{make(chan ExplainRequest, 1)}, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	f.Fuzz(func(t *testing.T, raw []byte) {
		resp := exchange(t, path, raw)
		if resp.Version != Version || (resp.Error == "") == (resp.Data == nil) {
			t.Fatalf("answer to %q: %+v", raw, resp)
		}
	})
}
