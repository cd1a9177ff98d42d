//go:build !amd64 || purego

package crypto

const xChaChaAsm = false
