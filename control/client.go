package control

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"syscall"
	"time"
)

// ErrNoGateway is returned when nothing listens on the control socket.
var ErrNoGateway = errors.New("no gateway is listening")

// Client talks to a gateway's control socket.
type Client struct {
	Path string
	// Timeout bounds one command, connection to answer (a reload with
	// many SAs takes a while); zero means two minutes.
	Timeout time.Duration
}

// Call sends command with args (nil for none) and decodes the answer's
// data into out (nil to ignore it).
func (c *Client) Call(command string, args, out any) error {
	req := Request{Version: Version, Command: command}
	if args != nil {
		raw, err := json.Marshal(args)
		if err != nil {
			return err
		}
		req.Args = raw
	}
	timeout := c.Timeout
	if timeout == 0 {
		timeout = 2 * time.Minute
	}
	conn, err := net.DialTimeout("unix", c.Path, timeout)
	if err != nil {
		return c.dialError(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(timeout))
	if err := json.NewEncoder(conn).Encode(&req); err != nil {
		return fmt.Errorf("control socket %s: %w", c.Path, err)
	}
	var resp Response
	if err := json.NewDecoder(conn).Decode(&resp); err != nil {
		return fmt.Errorf("control socket %s: reading the answer: %w", c.Path, err)
	}
	if resp.Version != Version {
		return versionError(resp.Version)
	}
	if resp.Error != "" {
		return errors.New(resp.Error)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(resp.Data, out); err != nil {
		return fmt.Errorf("control socket %s: malformed answer: %w", c.Path, err)
	}
	return nil
}

func (c *Client) dialError(err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%w on %s: is `ipsecgw run` running? (--socket PATH or -c FILE names another socket)", ErrNoGateway, c.Path)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("control socket %s: permission denied: the socket is the gateway owner's only (run as root)", c.Path)
	}
	return fmt.Errorf("control socket %s: %w", c.Path, err)
}
