package control

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// Limits of one exchange: requests are a few hundred bytes; a slow or
// stuck client must not hold a goroutine for ever. Reload and clear work
// under the server's own time, not the client's.
const (
	maxRequest = 64 << 10
	ioTimeout  = 30 * time.Second
	socketMode = 0o600
	tempFormat = "%s.%d.tmp"
)

// Server serves a Backend on a unix socket until Close.
type Server struct {
	path    string
	backend Backend
	log     *slog.Logger

	ln   *net.UnixListener
	info os.FileInfo // the socket as created, to remove only our own
	wg   sync.WaitGroup
	mu   sync.Mutex
	done bool
}

// Start listens on the unix socket at path (mode 0600, owner only) and
// serves b until Close. A socket left behind by a gateway that died is
// removed; a socket some process still answers on, or a path that is not
// a socket, is an error. log may be nil.
func Start(path string, b Backend, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := removeStale(path); err != nil {
		return nil, err
	}
	// Bind under a temporary name, restrict it, then move it into place,
	// so the socket is never reachable with wider permissions.
	tmp := fmt.Sprintf(tempFormat, path, os.Getpid())
	os.Remove(tmp)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	ln.SetUnlinkOnClose(false)
	if err := os.Chmod(tmp, socketMode); err != nil {
		ln.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		ln.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("control socket: %w", err)
	}
	info, err := os.Lstat(path)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	s := &Server{path: path, backend: b, log: log, ln: ln, info: info}
	s.wg.Add(1)
	go s.accept()
	log.Info("control socket listening", "path", path)
	return s, nil
}

// removeStale deletes a socket at path that nobody answers on.
func removeStale(path string) error {
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if _, err := os.Stat(filepath.Dir(path)); err != nil {
			return fmt.Errorf("control socket %s: %w", path, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("control socket: %w", err)
	case fi.Mode()&fs.ModeSocket == 0:
		return fmt.Errorf("control socket %s: exists and is not a socket; remove it or set control.socket", path)
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("control socket %s: another gateway is listening on it", path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("control socket %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("control socket %s: removing the stale socket: %w", path, err)
	}
	return nil
}

// Path is where the server listens.
func (s *Server) Path() string { return s.path }

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.AcceptUnix()
		if err != nil {
			s.mu.Lock()
			done := s.done
			s.mu.Unlock()
			if !done {
				s.log.Error("control socket: accept", "err", err)
			}
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer c.Close()
			s.serve(c)
		}()
	}
}

// serve answers the one request of a connection.
func (s *Server) serve(c net.Conn) {
	c.SetDeadline(time.Now().Add(ioTimeout))
	var req Request
	resp := Response{Version: Version}
	if err := json.NewDecoder(io.LimitReader(c, maxRequest)).Decode(&req); err != nil {
		resp.Error = fmt.Sprintf("malformed request: %v", err)
	} else {
		resp = s.handle(&req)
	}
	// The command may have taken long (reload); the answer gets its own
	// time to leave.
	c.SetDeadline(time.Now().Add(ioTimeout))
	if err := json.NewEncoder(c).Encode(&resp); err != nil {
		s.log.Warn("control socket: answering", "command", req.Command, "err", err)
	}
}

func (s *Server) handle(req *Request) Response {
	resp := Response{Version: Version}
	if req.Version != Version {
		resp.Error = versionError(req.Version).Error()
		return resp
	}
	h, ok := handlers[req.Command]
	if !ok {
		resp.Error = fmt.Sprintf("unknown command %q", req.Command)
		return resp
	}
	start := time.Now()
	v, err := h(s.backend, req.Args)
	if err == nil {
		resp.Data, err = json.Marshal(v)
	}
	if err != nil {
		resp.Error = err.Error()
	}
	s.log.Debug("control request", "command", req.Command, "args", string(req.Args), "took", time.Since(start), "error", resp.Error)
	return resp
}

// Close stops listening, waits for requests in progress and removes the
// socket (unless another process replaced it meanwhile).
func (s *Server) Close() error {
	s.mu.Lock()
	if s.done {
		s.mu.Unlock()
		return nil
	}
	s.done = true
	s.mu.Unlock()
	err := s.ln.Close()
	s.wg.Wait()
	if fi, lerr := os.Lstat(s.path); lerr == nil && os.SameFile(fi, s.info) {
		if rerr := os.Remove(s.path); rerr != nil && err == nil {
			err = rerr
		}
	}
	return err
}
