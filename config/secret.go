package config

import (
	"encoding/hex"
	"fmt"
	"io"
)

// Redacted is what secrets print as.
const Redacted = "<redacted>"

// Secret is a pre-shared key. Whatever fmt verb or JSON encoder meets it
// prints Redacted, so a key cannot leak into a log line by accident; Reveal
// is the one way to read it.
type Secret string

// Reveal returns the key itself.
func (s Secret) Reveal() string { return string(s) }

func (s Secret) String() string { return redact(len(s)) }

// Format redacts for every verb, %#v and %x included.
func (s Secret) Format(f fmt.State, _ rune) { io.WriteString(f, redact(len(s))) }

// MarshalText redacts; encoders that want the key must call Reveal.
func (s Secret) MarshalText() ([]byte, error) { return []byte(redact(len(s))), nil }

// Key is manual SA key material (`set session-key`), redacted like Secret.
type Key []byte

// Reveal returns the key bytes.
func (k Key) Reveal() []byte { return k }

// Hex returns the key as the hex string IOS configures it with.
func (k Key) Hex() string { return hex.EncodeToString(k) }

func (k Key) String() string { return redact(len(k)) }

// Format redacts for every verb.
func (k Key) Format(f fmt.State, _ rune) { io.WriteString(f, redact(len(k))) }

// MarshalText redacts.
func (k Key) MarshalText() ([]byte, error) { return []byte(redact(len(k))), nil }

func redact(n int) string {
	if n == 0 {
		return ""
	}
	return Redacted
}
