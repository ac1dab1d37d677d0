// A Go service trusting Tollgate the way kube-apiserver's OIDC authenticator does: go-oidc (Debian's
// golang-github-coreos-go-oidc-dev, built offline with GO111MODULE=off GOPATH=/usr/share/gocode) finds the keys
// by discovery alone and checks the signature, the issuer, the audience (the client id), expiry and the
// algorithm.
//
//	go-oidc-verify ISSUER CLIENT_ID ALG < token
//
// Reads the token on stdin (never argv). Prints the claims as JSON and exits 0, or prints the error on stderr
// and exits 1 (2 for a usage error).
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	oidc "github.com/coreos/go-oidc"
)

func fail(code int, err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(code)
}

func main() {
	if len(os.Args) != 4 {
		fail(2, fmt.Errorf("usage: go-oidc-verify ISSUER CLIENT_ID ALG < token"))
	}
	raw, err := io.ReadAll(io.LimitReader(os.Stdin, 64<<10))
	if err != nil {
		fail(1, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	provider, err := oidc.NewProvider(ctx, os.Args[1])
	if err != nil {
		fail(1, err)
	}
	verifier := provider.Verifier(&oidc.Config{ClientID: os.Args[2], SupportedSigningAlgs: []string{os.Args[3]}})
	token, err := verifier.Verify(ctx, strings.TrimSpace(string(raw)))
	if err != nil {
		fail(1, err)
	}
	var claims map[string]interface{}
	if err := token.Claims(&claims); err != nil {
		fail(1, err)
	}
	if err := json.NewEncoder(os.Stdout).Encode(claims); err != nil {
		fail(1, err)
	}
}
